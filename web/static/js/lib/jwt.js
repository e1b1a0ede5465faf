// What a registry token says about its holder. Tokens are JWTs; the UI
// reads their payload only to hide controls the user may not use and to
// show who is signed in. Nothing here checks a signature: the registry
// and the token endpoint enforce, this only decides what to show.
// Pure: no DOM.

/** base64urlDecode turns base64url (with or without '=' padding) into bytes; null when it is not base64url. */
export function base64urlDecode(text) {
  if (typeof text !== 'string') return null;
  const s = text.replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return null;
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  let bin;
  try {
    bin = atob(b64);
  } catch {
    return null;
  }
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** jwtPayload returns the decoded payload (claims) of a JWT, or null when token is not a JWT with a JSON object payload. */
export function jwtPayload(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const bytes = base64urlDecode(parts[1]);
  if (!bytes) return null;
  try {
    const claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? claims : null;
  } catch {
    return null;
  }
}

/**
 * grantedActions lists the actions token's `access` claim grants on the
 * resource type:name (e.g. 'repository', 'team/app'), in the order they
 * appear. Returns null when that is unknown: the token is not a JWT or has
 * no `access` list. An empty list means nothing was granted.
 */
export function grantedActions(token, type, name) {
  const claims = jwtPayload(token);
  if (!claims || !Array.isArray(claims.access)) return null;
  const actions = [];
  for (const entry of claims.access) {
    if (!entry || entry.type !== type || entry.name !== name || !Array.isArray(entry.actions)) continue;
    for (const a of entry.actions) if (typeof a === 'string' && !actions.includes(a)) actions.push(a);
  }
  return actions;
}

/**
 * grants tells whether token grants action on type:name: true, false, or
 * null when the token does not say (see grantedActions). '*' grants every
 * action, as the registry reads it.
 */
export function grants(token, type, name, action) {
  const actions = grantedActions(token, type, name);
  if (actions === null) return null;
  return actions.includes(action) || actions.includes('*');
}

const strings = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string' && x !== '') : []);

/**
 * identityOf reads the `rs_identity` claim registry-stack puts in its
 * tokens (auth mode oidc): {user, groups, realmRoles, clientRoles} with
 * clientRoles as [{client, roles}] sorted by client; {anonymous: true} for
 * an anonymous token. Returns null when the token carries no such claim
 * (Keycloak's own tokens) or is not a JWT.
 */
export function identityOf(token) {
  const claims = jwtPayload(token);
  const id = claims && claims.rs_identity;
  if (!id || typeof id !== 'object' || Array.isArray(id)) return null;
  if (id.anonymous === true) return { anonymous: true };
  const clientRoles = [];
  if (id.client_roles && typeof id.client_roles === 'object' && !Array.isArray(id.client_roles)) {
    for (const client of Object.keys(id.client_roles).sort()) {
      const roles = strings(id.client_roles[client]);
      if (roles.length) clientRoles.push({ client, roles });
    }
  }
  return {
    user: typeof id.user === 'string' ? id.user : '',
    groups: strings(id.groups),
    realmRoles: strings(id.realm_roles),
    clientRoles,
  };
}
