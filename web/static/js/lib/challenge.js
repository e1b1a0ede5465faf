// Parsing of WWW-Authenticate challenges (RFC 7235), e.g.
//   Bearer realm="<public url>/auth/...",service="registry",scope="repository:a/b:pull"
// Pure: no DOM.

/**
 * parseChallenges returns every challenge in the header value as
 * {scheme, params} with the scheme lower-cased and parameter names
 * lower-cased; quoted-string escapes are undone.
 */
export function parseChallenges(header) {
  const out = [];
  if (!header) return out;
  const s = String(header);
  let i = 0;
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  const token = () => {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(s.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  let current = null;
  while (i < s.length) {
    ws();
    const start = i;
    const name = token();
    if (!name) {
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && (s[j] === ' ' || s[j] === '\t')) j++;
    if (s[j] === '=' && current) {
      // auth-param: name=value
      i = j + 1;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++; // closing quote
      } else {
        value = token();
      }
      current.params[name.toLowerCase()] = value;
      continue;
    }
    // A new scheme (token68 forms are not used by registries).
    i = start + name.length;
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** bearerChallenge returns the first Bearer challenge's params, or null. */
export function bearerChallenge(header) {
  const c = parseChallenges(header).find((x) => x.scheme === 'bearer');
  return c ? c.params : null;
}
