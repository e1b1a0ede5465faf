import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CATALOG_SCOPE, mergeScopes, parseScope, repositoryScope, scopeForRequest } from '../static/js/lib/scope.js';

test('scopeForRequest predicts the challenge scope', async (t) => {
  const D = 'sha256:' + 'b'.repeat(64);
  const cases = [
    ['GET', '/v2/_catalog?n=100', CATALOG_SCOPE],
    ['GET', '/v2/team/app/tags/list?n=1000&last=v1', 'repository:team/app:pull'],
    ['GET', '/v2/team/app/manifests/v1', 'repository:team/app:pull'],
    ['HEAD', '/v2/a/b/c/manifests/v1', 'repository:a/b/c:pull'],
    ['GET', `/v2/team/app/blobs/${D}`, 'repository:team/app:pull'],
    ['GET', `/v2/team/app/referrers/${D}`, 'repository:team/app:pull'],
    ['DELETE', `/v2/team/app/manifests/${D}`, 'repository:team/app:pull,delete'],
    ['GET', '/v2/', ''],
  ];
  for (const [m, p, want] of cases) await t.test(`${m} ${p}`, () => assert.equal(scopeForRequest(m, p), want));
});

test('mergeScopes', async (t) => {
  const cases = [
    [['repository:a:delete', 'repository:a:pull'], 'repository:a:pull,delete'],
    [['repository:a:pull repository:a:push'], 'repository:a:pull,push'],
    [['repository:a:pull repository:b:pull'], 'repository:a:pull'],
    [['', 'registry:catalog:*'], 'registry:catalog:*'],
    [['', ''], ''],
  ];
  for (const [args, want] of cases) await t.test(args.join(' | '), () => assert.equal(mergeScopes(...args), want));
});

test('parseScope and repositoryScope', () => {
  assert.deepEqual(parseScope('repository(plugin):a/b:pull,push'), { type: 'repository(plugin)', name: 'a/b', actions: ['pull', 'push'] });
  assert.equal(parseScope('nonsense'), null);
  assert.equal(repositoryScope('x/y', ['pull', 'delete']), 'repository:x/y:pull,delete');
});
