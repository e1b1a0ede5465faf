import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDigest, parseRoute, pathFor, reference } from '../static/js/lib/route.js';

const D = 'sha256:' + 'a'.repeat(64);

test('parseRoute', async (t) => {
  const cases = [
    ['/', '', { view: 'catalog', q: '' }],
    ['/', '?q=team', { view: 'catalog', q: 'team' }],
    ['/r/alpine', '', { view: 'repository', name: 'alpine', q: '' }],
    ['/r/team/sub/app/', '', { view: 'repository', name: 'team/sub/app', q: '' }],
    ['/r/my.repo_x/a-b', '?q=v1', { view: 'repository', name: 'my.repo_x/a-b', q: 'v1' }],
    ['/r/team/app:v1.2.3', '', { view: 'manifest', name: 'team/app', tag: 'v1.2.3' }],
    ['/r/team/app:latest', '', { view: 'manifest', name: 'team/app', tag: 'latest' }],
    [`/r/team/app@${D}`, '', { view: 'manifest', name: 'team/app', digest: D }],
    [`/r/team/app%40${D.replace(':', '%3A')}`, '', { view: 'manifest', name: 'team/app', digest: D }],
    ['/r/Team/App', '', { view: 'notfound', path: '/r/Team/App' }],
    ['/r/team/app:-bad', '', { view: 'notfound', path: '/r/team/app:-bad' }],
    ['/r/team/app@sha256', '', { view: 'notfound', path: '/r/team/app@sha256' }],
    ['/elsewhere', '', { view: 'notfound', path: '/elsewhere' }],
    ['/r/%E0%A4%A', '', { view: 'notfound', path: '/r/%E0%A4%A' }],
  ];
  for (const [path, search, want] of cases) {
    await t.test(path + search, () => assert.deepEqual(parseRoute(path, search), want));
  }
});

test('pathFor is the inverse of parseRoute', () => {
  const routes = [
    { view: 'catalog', q: '' },
    { view: 'catalog', q: 'a b&c' },
    { view: 'repository', name: 'team/app', q: '' },
    { view: 'manifest', name: 'team/app', tag: 'v1' },
    { view: 'manifest', name: 'team/app', digest: D },
  ];
  for (const r of routes) {
    const u = new URL(pathFor(r), 'http://x');
    assert.deepEqual(parseRoute(u.pathname, u.search), r);
  }
});

test('reference and digests', () => {
  assert.equal(reference({ name: 'a/b', tag: 'v1' }), 'a/b:v1');
  assert.equal(reference({ name: 'a/b', digest: D }), `a/b@${D}`);
  assert.ok(isDigest(D));
  assert.ok(!isDigest('sha256'));
  // Manifests pushed by sha512 are opened by that digest.
  const D512 = 'sha512:' + 'b'.repeat(128);
  assert.ok(isDigest(D512));
  assert.deepEqual(parseRoute(pathFor({ view: 'manifest', name: 'a/b', digest: D512 }), ''), { view: 'manifest', name: 'a/b', digest: D512 });
});
