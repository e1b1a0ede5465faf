import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tagDetails } from '../static/js/details.js';
import { MT } from '../static/js/lib/manifest.js';
import { Registry } from '../static/js/registry.js';
import { Session, basicAuth } from '../static/js/session.js';
import { MemoryStorage, fakeFetch, response } from '../testsupport/fakes.mjs';

const TOKEN_PATH = '/auth/token';
const d = (c) => 'sha256:' + c.repeat(64);

/**
 * A fake stack: token endpoint issuing "T[scope]" tokens and a registry
 * that demands exactly that token, like distribution with token auth.
 */
function fakeStack({ repos = [], tags = {}, manifests = {}, blobs = {}, referrers = null, deleteStatus = 202, auth = true, deleteAction = 'delete' } = {}) {
  const deleted = [];
  const fetch = fakeFetch((url, init) => {
    const method = init.method || 'GET';
    if (url.pathname === TOKEN_PATH) {
      if (init.headers.get('Authorization') !== basicAuth('alice', 'pw')) return response(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad' }] });
      return response(200, { token: `T[${url.searchParams.get('scope') || ''}]`, expires_in: 300 });
    }
    // need accepts a token whose scope names the resource with the action, as distribution does.
    const need = (scope) => {
      if (!auth) return null;
      const want = scope.slice(0, scope.lastIndexOf(':'));
      const action = scope.slice(scope.lastIndexOf(':') + 1);
      const got = /^Bearer T\[(.*)\]$/.exec(init.headers.get('Authorization') || '');
      if (got && got[1].slice(0, got[1].lastIndexOf(':')) === want && got[1].slice(got[1].lastIndexOf(':') + 1).split(',').includes(action)) return null;
      return response(401, { errors: [{ code: 'UNAUTHORIZED' }] }, { 'WWW-Authenticate': `Bearer realm="http://x${TOKEN_PATH}",service="registry",scope="${scope}"` });
    };
    if (url.pathname === '/v2/_catalog') {
      const denied = need('registry:catalog:*');
      if (denied) return denied;
      const n = Number(url.searchParams.get('n'));
      const last = url.searchParams.get('last');
      const start = last ? repos.indexOf(last) + 1 : 0;
      const page = repos.slice(start, start + n);
      const headers = {};
      if (start + n < repos.length) headers.Link = `</v2/_catalog?last=${encodeURIComponent(page[page.length - 1])}&n=${n}>; rel="next"`;
      return response(200, { repositories: page }, headers);
    }
    const m = /^\/v2\/(.+)\/(tags\/list|manifests|blobs|referrers)\/?(.*)$/.exec(url.pathname);
    if (!m) return response(404, {});
    const [, name, kind, ref] = m;
    const denied = need(`repository:${name}:${method === 'DELETE' ? deleteAction : 'pull'}`);
    if (denied) return denied;
    if (kind === 'tags/list') {
      if (!tags[name]) return response(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] });
      const n = Number(url.searchParams.get('n'));
      const last = url.searchParams.get('last');
      const all = tags[name];
      const start = last ? all.indexOf(last) + 1 : 0;
      const page = all.slice(start, start + n);
      const headers = start + n < all.length ? { Link: `</v2/${name}/tags/list?last=${page[page.length - 1]}&n=${n}>; rel="next"` } : {};
      return response(200, { name, tags: page }, headers);
    }
    if (kind === 'manifests') {
      if (method === 'DELETE') {
        deleted.push(`${name}@${ref}`);
        return response(deleteStatus, deleteStatus === 202 ? '' : { errors: [{ code: 'UNSUPPORTED', message: 'The operation is unsupported.' }] });
      }
      const found = manifests[`${name}:${ref}`] || manifests[`${name}@${ref}`];
      if (!found) return response(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      assert.match(init.headers.get('Accept'), /vnd\.oci\.image\.index\.v1\+json/);
      return response(200, method === 'HEAD' ? '' : found.body, { 'Content-Type': found.body.mediaType, 'Docker-Content-Digest': found.digest });
    }
    if (kind === 'blobs') return blobs[ref] ? response(200, blobs[ref]) : response(404, { errors: [{ code: 'BLOB_UNKNOWN' }] });
    if (kind === 'referrers') return referrers ? response(200, referrers, { 'Content-Type': MT.ociIndex }) : response(404, { errors: [{ code: 'UNSUPPORTED' }] });
    return response(404, {});
  });
  return { fetch, deleted };
}

async function signedIn(stack) {
  const session = new Session({ fetch: stack.fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
  await session.signIn('alice', 'pw');
  return { session, registry: new Registry({ fetch: stack.fetch, session }) };
}

test('catalog pages follow the Link header, one request per page', async () => {
  const repos = Array.from({ length: 250 }, (_, i) => `team/app${String(i).padStart(3, '0')}`);
  const stack = fakeStack({ repos });
  const { registry } = await signedIn(stack);
  const p1 = await registry.catalogPage({ n: 100 });
  assert.equal(p1.repositories.length, 100);
  assert.equal(p1.next, 'team/app099');
  const p3 = await registry.catalogPage({ n: 100, last: 'team/app199' });
  assert.equal(p3.repositories.length, 50);
  assert.equal(p3.next, null);
  const catalogCalls = stack.fetch.calls.filter((c) => c.path === '/v2/_catalog');
  assert.deepEqual(catalogCalls.map((c) => c.query.get('n')), ['100', '100']);
  assert.equal(catalogCalls[1].query.get('last'), 'team/app199');
  assert.ok(catalogCalls.every((c) => c.headers.get('Authorization') === 'Bearer T[registry:catalog:*]'), 'token fetched before the first request, no 401 round trip');
});

test('DELETE asks for pull,delete up front', async () => {
  const stack = fakeStack({ tags: { a: ['1'] } });
  const { registry } = await signedIn(stack);
  await registry.deleteManifest('a', d('1'));
  const del = stack.fetch.calls.filter((c) => c.method === 'DELETE');
  assert.equal(del.length, 1, 'no 401 round trip');
  assert.equal(del[0].headers.get('Authorization'), 'Bearer T[repository:a:pull,delete]');
  assert.deepEqual(stack.deleted, [`a@${d('1')}`]);
});

test('a 401 challenge naming another scope is answered with a token for the merged scope', async () => {
  const stack = fakeStack({ tags: { a: ['1'] }, deleteAction: 'push' });
  const { registry } = await signedIn(stack);
  await registry.deleteManifest('a', d('1'));
  const del = stack.fetch.calls.filter((c) => c.method === 'DELETE');
  assert.equal(del.length, 2);
  assert.equal(del[1].headers.get('Authorization'), 'Bearer T[repository:a:pull,push,delete]');
  const tokenScopes = stack.fetch.calls.filter((c) => c.path === TOKEN_PATH).map((c) => c.query.get('scope'));
  assert.deepEqual(tokenScopes, [null, 'repository:a:pull,delete', 'repository:a:pull,push,delete']);
});

test('a refused token is fetched again once, then the 401 is reported', async () => {
  const stack = fakeStack({ repos: ['a'] });
  const session = new Session({ fetch: stack.fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
  await session.signIn('alice', 'pw');
  const refusing = fakeFetch((url, init) => (url.pathname === TOKEN_PATH ? stack.fetch(url.href, init) : response(401, {}, { 'WWW-Authenticate': 'Bearer realm="x",service="registry",scope="registry:catalog:*"' })));
  const r = new Registry({ fetch: refusing, session });
  await assert.rejects(r.catalogPage(), { kind: 'unauthorized' });
  assert.equal(refusing.calls.filter((c) => c.path === '/v2/_catalog').length, 2);
});

test('allTags follows pagination', async () => {
  const tags = Array.from({ length: 2500 }, (_, i) => `v${i}`);
  const stack = fakeStack({ tags: { 'team/app': tags } });
  const { registry } = await signedIn(stack);
  const pages = [];
  const got = await registry.allTags('team/app', { n: 1000, onPage: (n) => pages.push(n) });
  assert.deepEqual(got, tags);
  assert.deepEqual(pages, [1000, 2000, 2500]);
});

test('errors carry their kind', async (t) => {
  const stack = fakeStack({ tags: {} });
  const { registry } = await signedIn(stack);
  await t.test('404', () => assert.rejects(registry.allTags('nope'), { kind: 'notfound', code: 'NAME_UNKNOWN' }));
  await t.test('network', async () => {
    const r = new Registry({
      fetch: fakeFetch(() => {
        throw new TypeError('Failed to fetch');
      }),
    });
    await assert.rejects(r.catalogPage(), { kind: 'network' });
  });
  await t.test('401 without being signed in', async () => {
    const r = new Registry({ fetch: stack.fetch, session: null });
    await assert.rejects(r.catalogPage(), { kind: 'unauthorized', status: 401 });
  });
  await t.test('delete disabled', async () => {
    const s = fakeStack({ deleteStatus: 405, auth: false });
    const r = new Registry({ fetch: s.fetch });
    await assert.rejects(r.deleteManifest('a', d('1')), { kind: 'disabled' });
  });
  await t.test('credentials no longer accepted (password changed after sign-in)', async () => {
    const s2 = fakeStack({ repos: ['a'] });
    let changed = false;
    const fetch = fakeFetch((url, init) => (changed && url.pathname === TOKEN_PATH ? response(401, { errors: [{ code: 'UNAUTHORIZED' }] }) : s2.fetch(url.href, init)));
    const session = new Session({ fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
    await session.signIn('alice', 'pw');
    changed = true;
    await assert.rejects(new Registry({ fetch, session }).catalogPage(), { kind: 'credentials' });
  });
});

test('referrers: a registry without the API yields an empty list, not an error', async () => {
  const none = fakeStack({ auth: false });
  assert.deepEqual(await new Registry({ fetch: none.fetch }).referrers('a', d('1')), { manifests: [], more: false });
  const some = fakeStack({ auth: false, referrers: { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ digest: d('5'), artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', size: 10 }] } });
  const refs = await new Registry({ fetch: some.fetch }).referrers('a', d('1'));
  assert.equal(refs.manifests[0].artifactType, 'application/vnd.dev.cosign.artifact.sig.v1+json');
  assert.equal(refs.more, false);
});

test('referrers: follows the Link header page by page, up to maxPages', async () => {
  const all = ['1', '2', '3', '4', '5'].map((c) => ({ digest: d(c), artifactType: 'application/spdx+json', size: 1 }));
  const seen = [];
  const fetch = fakeFetch((url) => {
    seen.push(url.pathname + url.search);
    if (url.pathname !== `/v2/team/app/referrers/${d('0')}`) return response(404, {});
    const last = url.searchParams.get('last');
    const start = last ? all.findIndex((m) => m.digest === last) + 1 : 0;
    const page = all.slice(start, start + 2);
    const headers = { 'Content-Type': MT.ociIndex };
    if (start + 2 < all.length) headers.Link = `</v2/team/app/referrers/${d('0')}?last=${page[1].digest}>; rel="next"`;
    if (url.searchParams.get('fail')) return response(500, {});
    return response(200, { schemaVersion: 2, mediaType: MT.ociIndex, manifests: page }, headers);
  });
  const reg = new Registry({ fetch });
  const got = await reg.referrers('team/app', d('0'));
  assert.deepEqual(got.manifests.map((m) => m.digest), all.map((m) => m.digest));
  assert.equal(got.more, false);
  assert.equal(seen.length, 3);
  const capped = await reg.referrers('team/app', d('0'), { maxPages: 2 });
  assert.equal(capped.manifests.length, 4);
  assert.equal(capped.more, true);
});

test('referrers: a Link to another host is not followed', async () => {
  const seen = [];
  const fetch = fakeFetch((url) => {
    seen.push(url.href);
    return response(200, { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ digest: d('1') }] }, { Link: `<https://elsewhere.example/v2/team/app/referrers/${d('0')}?last=x>; rel="next"` });
  });
  const got = await new Registry({ fetch }).referrers('team/app', d('0'));
  assert.equal(got.manifests.length, 1);
  assert.equal(seen.length, 1);
});

test('tagDetails: image size and created date, index over its platforms', async () => {
  const cfg = (created) => ({ created, os: 'linux', architecture: 'amd64', config: {} });
  const img = (c, size) => ({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: d(c), size: 100 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('f'), size }],
  });
  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      { mediaType: MT.ociManifest, digest: d('a'), size: 300, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MT.ociManifest, digest: d('b'), size: 300, platform: { os: 'linux', architecture: 'arm64' } },
    ],
  };
  const stack = fakeStack({
    auth: false,
    manifests: {
      'r:v1': { body: img('1', 900), digest: d('9') },
      'r:multi': { body: index, digest: d('8') },
      [`r@${d('a')}`]: { body: img('2', 1000), digest: d('a') },
      [`r@${d('b')}`]: { body: img('3', 2000), digest: d('b') },
    },
    blobs: { [d('1')]: cfg('2024-01-01T00:00:00Z'), [d('2')]: cfg('2024-02-01T00:00:00Z'), [d('3')]: cfg('2024-03-01T00:00:00Z') },
  });
  const r = new Registry({ fetch: stack.fetch });
  const one = await tagDetails(r, 'r', 'v1');
  assert.deepEqual({ kind: one.kind, size: one.size, created: one.created, digest: one.digest }, { kind: 'image', size: 1000, created: '2024-01-01T00:00:00Z', digest: d('9') });
  const multi = await tagDetails(r, 'r', 'multi');
  assert.equal(multi.kind, 'index');
  assert.deepEqual(multi.platforms, ['linux/amd64', 'linux/arm64']);
  assert.equal(multi.size, 1100 + 2100);
  assert.equal(multi.created, '2024-03-01T00:00:00Z');
});

/** jwtStack: a token endpoint issuing JWTs that grant each requested action in allowed (per repository), or opaque tokens. */
function jwtStack(allowed, { opaque = false, scopedStatus = 200 } = {}) {
  const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return fakeFetch((url) => {
    assert.equal(url.pathname, TOKEN_PATH, 'deleteGrant talks to the token endpoint only');
    const scope = url.searchParams.get('scope') || '';
    if (scope && scopedStatus !== 200) return response(scopedStatus, { errors: [{ code: 'UNAVAILABLE', message: 'down' }] });
    if (opaque) return response(200, { token: `T[${scope}]`, expires_in: 300 });
    const [type, name, actions = ''] = scope.split(':');
    const granted = actions.split(',').filter((a) => (allowed[name] || []).includes(a));
    const access = granted.length ? [{ type, name, actions: granted }] : [];
    return response(200, { token: `${b64url({ alg: 'ES256' })}.${b64url({ access })}.sig`, expires_in: 300 });
  });
}

test('deleteGrant reads the delete token the way deleteManifest gets it', async () => {
  const fetch = jwtStack({ 'team-a/app': ['pull', 'delete'], 'team-a/ro': ['pull'] });
  const session = new Session({ fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
  await session.signIn('alice', 'pw');
  const registry = new Registry({ fetch, session });
  assert.equal(await registry.deleteGrant('team-a/app'), true);
  assert.equal(await registry.deleteGrant('team-a/ro'), false, 'pull only: a partial grant');
  assert.equal(await registry.deleteGrant('team-b/x'), false, 'nothing granted');
  const scopes = fetch.calls.map((c) => c.query.get('scope'));
  assert.deepEqual(scopes, [null, 'repository:team-a/app:pull,delete', 'repository:team-a/ro:pull,delete', 'repository:team-b/x:pull,delete']);
  assert.equal(await registry.deleteGrant('team-a/app'), true);
  assert.equal(fetch.calls.length, 4, 'answered from the cached token');
  await session.token('repository:team-a/app:pull,delete'); // what deleteManifest asks for first
  assert.equal(fetch.calls.length, 4, 'the same cache entry a delete uses');
});

test('deleteGrant is null when the token cannot say', async (t) => {
  await t.test('opaque tokens', async () => {
    const fetch = jwtStack({}, { opaque: true });
    const session = new Session({ fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
    await session.signIn('alice', 'pw');
    assert.equal(await new Registry({ fetch, session }).deleteGrant('a'), null);
  });
  await t.test('token endpoint failing', async () => {
    const fetch = jwtStack({}, { scopedStatus: 503 });
    const session = new Session({ fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
    await session.signIn('alice', 'pw');
    assert.equal(await new Registry({ fetch, session }).deleteGrant('a'), null);
  });
  await t.test('signed out', async () => {
    const fetch = jwtStack({});
    const session = new Session({ fetch, storage: new MemoryStorage(), tokenPath: TOKEN_PATH, service: 'registry' });
    assert.equal(await new Registry({ fetch, session }).deleteGrant('a'), null);
    assert.equal(fetch.calls.length, 0);
  });
  await t.test('no session (auth none)', async () => {
    const fetch = jwtStack({});
    assert.equal(await new Registry({ fetch }).deleteGrant('a'), null);
    assert.equal(fetch.calls.length, 0);
  });
});
