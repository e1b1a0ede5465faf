// Docker token scopes ("type:name:actions"). Keycloak honours only the first
// scope parameter of a token request, so the UI asks for one token per
// scope and merges what a challenge names into one scope string.
// Pure: no DOM.

export const CATALOG_SCOPE = 'registry:catalog:*';

export function repositoryScope(name, actions = ['pull']) {
  return `repository:${name}:${actions.join(',')}`;
}

/** parseScope splits "repository:a/b:pull,push" (names may not contain ':' but types may carry "(class)"). */
export function parseScope(scope) {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return null;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope.slice(last + 1).split(',').filter(Boolean),
  };
}

export function formatScope(s) {
  return `${s.type}:${s.name}:${s.actions.join(',')}`;
}

/**
 * mergeScopes turns a challenge's space-separated scope list (plus extra
 * scopes the caller knows it needs) into one scope string: the first
 * resource named, with the union of the actions asked for it.
 */
export function mergeScopes(...lists) {
  const parsed = lists
    .flatMap((l) => String(l || '').split(/\s+/))
    .filter(Boolean)
    .map(parseScope)
    .filter(Boolean);
  if (parsed.length === 0) return '';
  const head = parsed[0];
  const actions = [];
  for (const s of parsed) {
    if (s.type !== head.type || s.name !== head.name) continue;
    for (const a of s.actions) if (!actions.includes(a)) actions.push(a);
  }
  const order = ['pull', 'push', 'delete', '*'];
  actions.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  return formatScope({ ...head, actions });
}

/**
 * scopeForRequest predicts the scope a registry API request needs, so the
 * UI can fetch the token before the first request instead of after a 401.
 * Returns '' for paths that need none (/v2/).
 */
export function scopeForRequest(method, path) {
  const p = path.split('?')[0];
  if (p === '/v2/_catalog') return CATALOG_SCOPE;
  const m = /^\/v2\/(.+)\/(tags|manifests|blobs|referrers)\/.*$/.exec(p);
  if (!m) return '';
  const actions = method === 'DELETE' ? ['pull', 'delete'] : ['pull'];
  return repositoryScope(m[1], actions);
}
