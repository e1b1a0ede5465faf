// Link header parsing (RFC 8288) for the registry's pagination, e.g.
//   </v2/_catalog?last=b&n=100>; rel="next"
// Pure: no DOM.

export function parseLinks(header) {
  const links = {};
  if (!header) return links;
  for (const part of String(header).split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m) continue;
    const rel = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(m[2]);
    if (!rel) continue;
    for (const r of rel[1].trim().split(/\s+/)) links[r.toLowerCase()] = m[1];
  }
  return links;
}

/** nextLast returns the `last` parameter of the rel="next" link, or null when there is no next page. */
export function nextLast(header) {
  const next = parseLinks(header).next;
  if (!next) return null;
  const u = new URL(next, 'http://registry.invalid');
  return u.searchParams.get('last');
}
