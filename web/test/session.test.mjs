import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session, basicAuth, expiry } from '../static/js/session.js';
import { MemoryStorage, fakeFetch, response } from '../testsupport/fakes.mjs';

const TOKEN_PATH = '/auth/realms/demo/protocol/docker-v2/auth';

function tokenEndpoint({ password = 'secret', status = 200, expiresIn = 300 } = {}) {
  let n = 0;
  return fakeFetch((url, init) => {
    assert.equal(url.pathname, TOKEN_PATH);
    assert.equal(init.headers.get('X-Requested-With'), 'XMLHttpRequest', 'marks UI requests so no Basic popup appears');
    if (status === 503) return response(503, { errors: [{ code: 'UNAVAILABLE', message: 'keycloak unreachable: connection refused' }] }, { 'Retry-After': '5' });
    if (init.headers.get('Authorization') !== basicAuth('alice', password)) {
      return response(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid user name or password' }] }, { 'Content-Type': 'application/json' });
    }
    n++;
    return response(200, { token: `tok-${n}-${url.searchParams.get('scope') || 'none'}`, expires_in: expiresIn, issued_at: '2024-01-01T00:00:00Z' });
  });
}

test('basicAuth encodes UTF-8', () => {
  assert.equal(basicAuth('alice', 'pässword'), 'Basic ' + Buffer.from('alice:pässword', 'utf8').toString('base64'));
});

test('expiry refreshes before the token really expires', () => {
  assert.equal(expiry(0, 300), 270_000);
  assert.equal(expiry(0, 60), 45_000);
  assert.equal(expiry(0, undefined), 45_000, 'the spec default of 60 s');
});

test('sign in, cache per scope until expiry, sign out', async () => {
  let now = 1_000_000;
  const fetch = tokenEndpoint();
  const storage = new MemoryStorage();
  const s = new Session({ fetch, storage, tokenPath: TOKEN_PATH, service: 'registry', now: () => now });
  assert.equal(s.signedIn, false);
  assert.equal(await s.token('registry:catalog:*'), null, 'no token while signed out');

  await s.signIn('alice', 'secret');
  assert.equal(s.user, 'alice');
  assert.equal(fetch.calls[0].query.get('account'), 'alice');
  assert.equal(fetch.calls[0].query.get('scope'), null, 'sign-in asks for no scope');
  assert.ok(!JSON.stringify([...storage.map.values()]).includes('secret'), 'the password is not stored in clear text');

  const t1 = await s.token('registry:catalog:*');
  const t2 = await s.token('registry:catalog:*');
  assert.equal(t1, t2, 'cached');
  const t3 = await s.token('repository:a:pull');
  assert.notEqual(t3, t1, 'one token per scope');
  assert.equal(fetch.calls.length, 3);
  for (const c of fetch.calls.slice(1)) assert.equal(c.query.get('service'), 'registry');

  now += 280_000; // past expiry minus margin
  const t4 = await s.token('registry:catalog:*');
  assert.notEqual(t4, t1, 'refreshed after expiry');

  s.signOut();
  assert.equal(s.signedIn, false);
  assert.equal(storage.map.size, 0, 'credentials removed');
  assert.equal(await s.token('registry:catalog:*'), null);
});

test('concurrent requests for one scope share one token request', async () => {
  const fetch = tokenEndpoint();
  const s = new Session({ fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
  await s.signIn('alice', 'secret');
  const tokens = await Promise.all(Array.from({ length: 5 }, () => s.token('repository:a:pull')));
  assert.equal(new Set(tokens).size, 1);
  assert.equal(fetch.calls.length, 2);
});

test('sign-in failures', async (t) => {
  await t.test('wrong password', async () => {
    const s = new Session({ fetch: tokenEndpoint(), storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
    await assert.rejects(s.signIn('alice', 'wrong'), { kind: 'credentials', status: 401 });
    assert.equal(s.signedIn, false);
  });
  await t.test('keycloak down', async () => {
    const s = new Session({ fetch: tokenEndpoint({ status: 503 }), storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
    await assert.rejects(s.signIn('alice', 'secret'), { kind: 'unavailable', retryAfter: '5' });
  });
  await t.test('network failure', async () => {
    const fetch = fakeFetch(() => {
      throw new TypeError('Failed to fetch');
    });
    const s = new Session({ fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
    await assert.rejects(s.signIn('alice', 'secret'), { kind: 'network' });
  });
});

test('without storage the credentials live in memory only', async () => {
  const broken = {
    getItem() {
      throw new Error('denied');
    },
    setItem() {
      throw new Error('denied');
    },
    removeItem() {
      throw new Error('denied');
    },
  };
  const s = new Session({ fetch: tokenEndpoint(), storage: broken, tokenPath: TOKEN_PATH, service: 'registry' });
  await s.signIn('alice', 'secret');
  assert.equal(s.user, 'alice');
  assert.ok(await s.token('repository:a:pull'));
  s.signOut();
  assert.equal(s.signedIn, false);
});

test('a token request in flight across sign-out and sign-in never fills the new session', async () => {
  // The first token request is held until the test releases it.
  let release;
  const held = new Promise((r) => { release = r; });
  let n = 0;
  const fetch = fakeFetch(async (url) => {
    if (url.searchParams.get('scope') && n++ === 0) await held;
    return response(200, { token: `tok-${n}`, expires_in: 300 });
  });
  const s = new Session({ fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
  await s.signIn('alice', 'secret');
  const stale = s.token('repository:a:pull'); // alice's request, held
  s.signOut();
  await s.signIn('bob', 'other');
  release();
  assert.equal(await stale, null, "the old session's request yields no token");
  const fresh = await s.token('repository:a:pull');
  assert.notEqual(fresh, 'tok-1', "bob does not get alice's token from the cache");
  assert.equal(fetch.calls.filter((c) => c.query.get('scope')).length, 2, 'bob asked for his own token');
});

test('signInToken: the sign-in check token, cached, asked again with the account after a reload', async () => {
  let now = 1_000_000;
  const fetch = tokenEndpoint();
  const storage = new MemoryStorage();
  const s = new Session({ fetch, storage, tokenPath: TOKEN_PATH, service: 'registry', now: () => now });
  assert.equal(await s.signInToken(), null, 'signed out: none');
  await s.signIn('alice', 'secret');
  assert.equal(await s.signInToken(), 'tok-1-none', 'the token sign-in got');
  assert.equal(fetch.calls.length, 1, 'no second request');

  // A reload: a new Session over the same tab storage has no tokens yet.
  const reloaded = new Session({ fetch, storage, tokenPath: TOKEN_PATH, service: 'registry', now: () => now });
  assert.equal(await reloaded.signInToken(), 'tok-2-none');
  const again = fetch.calls[1];
  assert.equal(again.query.get('scope'), null, 'no scope, as at sign-in');
  assert.equal(again.query.get('account'), 'alice', 'with the account, as at sign-in');
  assert.equal(again.query.get('service'), 'registry');
  await reloaded.token('repository:a:pull');
  assert.equal(fetch.calls[2].query.get('account'), null, 'scoped requests carry no account');

  now += 280_000;
  assert.equal(await s.signInToken(), 'tok-4-none', 'refreshed after expiry');
  s.signOut();
  assert.equal(await s.signInToken(), null);
});
