// Routes of the UI and their URLs. Repository names never contain ':' or
// '@', so "/r/<name>:<tag>" and "/r/<name>@<digest>" are unambiguous.
// Pure: no DOM, no globals.

const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export const isRepositoryName = (s) => typeof s === 'string' && s.length <= 255 && NAME.test(s);
export const isTag = (s) => typeof s === 'string' && TAG.test(s);
export const isDigest = (s) => typeof s === 'string' && DIGEST.test(s);

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/**
 * parseRoute turns a location into a route:
 *   {view:'catalog', q}            for "/"
 *   {view:'repository', name, q}   for "/r/<name>"
 *   {view:'manifest', name, tag}   for "/r/<name>:<tag>"
 *   {view:'manifest', name, digest} for "/r/<name>@<digest>"
 *   {view:'notfound', path}        for anything else
 */
export function parseRoute(pathname, search = '') {
  const params = new URLSearchParams(search);
  const q = params.get('q') || '';
  const path = decode(pathname || '/');
  if (path === null) return { view: 'notfound', path: pathname };
  if (path === '/' || path === '') return { view: 'catalog', q };
  if (!path.startsWith('/r/')) return { view: 'notfound', path };
  const rest = path.slice(3).replace(/\/+$/, '');
  const at = rest.indexOf('@');
  if (at >= 0) return manifestRoute(rest, at, 'digest', isDigest) || { view: 'notfound', path };
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) return manifestRoute(rest, colon, 'tag', isTag) || { view: 'notfound', path };
  if (isRepositoryName(rest)) return { view: 'repository', name: rest, q };
  return { view: 'notfound', path };
}

/** manifestRoute splits "<name><sep><ref>" at i; null unless both parts are valid. */
function manifestRoute(rest, i, key, valid) {
  const name = rest.slice(0, i);
  const ref = rest.slice(i + 1);
  return isRepositoryName(name) && valid(ref) ? { view: 'manifest', name, [key]: ref } : null;
}

/** pathFor builds the URL of a route (the inverse of parseRoute). */
export function pathFor(route) {
  const q = route.q ? '?' + new URLSearchParams({ q: route.q }).toString() : '';
  switch (route.view) {
    case 'catalog':
      return '/' + q;
    case 'repository':
      return '/r/' + encodeURI(route.name) + q;
    case 'manifest':
      if (route.digest) return '/r/' + encodeURI(route.name) + '@' + encodeURI(route.digest);
      return '/r/' + encodeURI(route.name) + ':' + encodeURI(route.tag);
    default:
      return '/';
  }
}

/** reference is how a manifest route is written on the command line. */
export function reference(route) {
  return route.digest ? `${route.name}@${route.digest}` : `${route.name}:${route.tag}`;
}
