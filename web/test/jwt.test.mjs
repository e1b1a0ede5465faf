import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base64urlDecode, grantedActions, grants, identityOf, jwtPayload } from '../static/js/lib/jwt.js';

const b64url = (s) => Buffer.from(s, 'utf8').toString('base64url'); // no padding
/** jwt makes an unsigned-looking token whose payload is claims (an object or raw JSON text). */
const jwt = (claims, pad = false) => {
  let body = b64url(typeof claims === 'string' ? claims : JSON.stringify(claims));
  if (pad) body += '='.repeat((4 - (body.length % 4)) % 4);
  return `${b64url('{"alg":"ES256","typ":"JWT","kid":"k1"}')}.${body}.c2lnbmF0dXJl`;
};

test('base64urlDecode: every padding length, with and without "="', () => {
  for (const text of ['', 'a', 'ab', 'abc', 'abcd', 'ä€😀', '\u00ff\u00fe?>']) {
    const want = [...Buffer.from(text, 'utf8')];
    const enc = Buffer.from(text, 'utf8').toString('base64url');
    assert.deepEqual([...base64urlDecode(enc)], want, `unpadded ${JSON.stringify(text)}`);
    const padded = Buffer.from(text, 'utf8').toString('base64');
    assert.deepEqual([...base64urlDecode(padded.replace(/\+/g, '-').replace(/\//g, '_'))], want, `padded ${JSON.stringify(text)}`);
  }
  assert.deepEqual([...base64urlDecode('-_8')], [0xfb, 0xff], 'the url alphabet: - and _');
});

test('base64urlDecode refuses what is not base64url', () => {
  for (const bad of ['a', 'abcde', '+/8=', 'ab cd', 'ab.c', '%%', null, undefined, 42]) {
    assert.equal(base64urlDecode(bad), null, JSON.stringify(bad));
  }
});

test('jwtPayload decodes the claims of a JWT', () => {
  const claims = { iss: 'registry-stack', sub: 'alice', exp: 1700000000, name: 'Ålice Ünïcode 😀' };
  assert.deepEqual(jwtPayload(jwt(claims)), claims);
  assert.deepEqual(jwtPayload(jwt(claims, true)), claims, 'padded payload');
});

test('jwtPayload: null for invalid and garbage tokens', () => {
  const cases = {
    'no token': null,
    'not a string': { access: [] },
    empty: '',
    'opaque token': 'T[repository:a:pull]',
    'two parts': `${b64url('{}')}.${b64url('{"access":[]}')}`,
    'four parts': `a.${b64url('{}')}.b.c`,
    'payload not base64url': 'a.b*c.d',
    'payload not JSON': jwt('not json'),
    'payload JSON but not an object': jwt('[1,2]'),
    'payload null': jwt('null'),
    'payload a string': jwt('"x"'),
    'payload not UTF-8': `a.${Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url')}.b`,
  };
  for (const [what, token] of Object.entries(cases)) assert.equal(jwtPayload(token), null, what);
});

test('grantedActions: the actions of the named resource only', () => {
  const token = jwt({
    access: [
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'delete'] },
      { type: 'repository', name: 'team-a/app-other', actions: ['push'] },
      { type: 'repository', name: 'team-a', actions: ['*'] },
      { type: 'registry', name: 'team-a/app', actions: ['catalog'] },
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] },
    ],
  });
  assert.deepEqual(grantedActions(token, 'repository', 'team-a/app'), ['pull', 'delete', 'push'], 'union of entries, no duplicates');
  assert.deepEqual(grantedActions(token, 'repository', 'team-b/app'), [], 'another repository: nothing');
  assert.deepEqual(grantedActions(token, 'repository', 'team-a/ap'), [], 'names are not prefixes');
  assert.deepEqual(grantedActions(token, 'registry', 'team-a/app'), ['catalog'], 'type matters');
});

test('grantedActions: an empty grant is not an unknown one', () => {
  assert.deepEqual(grantedActions(jwt({ access: [] }), 'repository', 'a'), [], 'nothing granted');
  assert.deepEqual(grantedActions(jwt({ access: [{ type: 'repository', name: 'a', actions: [] }] }), 'repository', 'a'), []);
  assert.deepEqual(grantedActions(jwt({ access: [{ type: 'repository', name: 'a' }] }), 'repository', 'a'), [], 'entry without actions');
});

test('grantedActions: null when the token does not say', () => {
  assert.equal(grantedActions('opaque', 'repository', 'a'), null, 'not a JWT');
  assert.equal(grantedActions(jwt({ sub: 'alice' }), 'repository', 'a'), null, 'no access claim');
  assert.equal(grantedActions(jwt({ access: 'repository:a:pull' }), 'repository', 'a'), null, 'access is not a list');
  assert.equal(grantedActions(jwt({ access: null }), 'repository', 'a'), null);
});

test('grantedActions skips malformed entries and actions', () => {
  const token = jwt({ access: [null, 7, 'x', { type: 'repository', name: 'a', actions: 'delete' }, { type: 'repository', name: 'a', actions: ['pull', 3, null, 'delete'] }] });
  assert.deepEqual(grantedActions(token, 'repository', 'a'), ['pull', 'delete']);
});

test('grants: true, false, or null when unknown; "*" grants everything', () => {
  const token = jwt({
    access: [
      { type: 'repository', name: 'team-a/app', actions: ['pull'] },
      { type: 'repository', name: 'team-a/admin', actions: ['*'] },
      { type: 'repository', name: 'team-a/del', actions: ['pull', 'delete'] },
    ],
  });
  assert.equal(grants(token, 'repository', 'team-a/app', 'delete'), false, 'partial grant: pull only');
  assert.equal(grants(token, 'repository', 'team-a/app', 'pull'), true);
  assert.equal(grants(token, 'repository', 'team-a/del', 'delete'), true);
  assert.equal(grants(token, 'repository', 'team-a/admin', 'delete'), true, 'wildcard');
  assert.equal(grants(token, 'repository', 'team-b/app', 'delete'), false, 'not named at all');
  assert.equal(grants(jwt({ sub: 'alice' }), 'repository', 'team-a/app', 'delete'), null, 'no access claim');
  assert.equal(grants('not-a-jwt', 'repository', 'team-a/app', 'delete'), null, 'garbage');
});

test('identityOf reads rs_identity', () => {
  const token = jwt({
    access: [],
    rs_identity: {
      user: 'alice',
      groups: ['/team-a', '/team-b/sub'],
      realm_roles: ['registry-admin'],
      client_roles: { 'registry-stack': ['maintainer', 'viewer'], account: ['view-profile'], empty: [] },
    },
  });
  assert.deepEqual(identityOf(token), {
    user: 'alice',
    groups: ['/team-a', '/team-b/sub'],
    realmRoles: ['registry-admin'],
    clientRoles: [
      { client: 'account', roles: ['view-profile'] },
      { client: 'registry-stack', roles: ['maintainer', 'viewer'] },
    ],
  });
});

test('identityOf: omitted fields are empty', () => {
  assert.deepEqual(identityOf(jwt({ rs_identity: { user: 'bob' } })), { user: 'bob', groups: [], realmRoles: [], clientRoles: [] });
  assert.deepEqual(identityOf(jwt({ rs_identity: {} })), { user: '', groups: [], realmRoles: [], clientRoles: [] });
});

test('identityOf: anonymous', () => {
  assert.deepEqual(identityOf(jwt({ rs_identity: { anonymous: true } })), { anonymous: true });
});

test('identityOf: malformed fields are dropped', () => {
  const token = jwt({ rs_identity: { user: 42, groups: '/team-a', realm_roles: ['ok', 1, '', null], client_roles: ['registry-stack'] } });
  assert.deepEqual(identityOf(token), { user: '', groups: [], realmRoles: ['ok'], clientRoles: [] });
  assert.deepEqual(identityOf(jwt({ rs_identity: { client_roles: { c: 'admin', d: ['x'] } } })).clientRoles, [{ client: 'd', roles: ['x'] }]);
});

test('identityOf: null without the claim (keycloak tokens) or a JWT', () => {
  assert.equal(identityOf(jwt({ sub: 'alice', access: [] })), null, "Keycloak's token");
  assert.equal(identityOf(jwt({ rs_identity: null })), null);
  assert.equal(identityOf(jwt({ rs_identity: ['alice'] })), null);
  assert.equal(identityOf(jwt({ rs_identity: 'alice' })), null);
  assert.equal(identityOf('garbage'), null);
  assert.equal(identityOf(null), null);
});
