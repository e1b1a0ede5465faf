import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerChallenge, parseChallenges } from '../static/js/lib/challenge.js';

test('bearer challenge of distribution', () => {
  const h = 'Bearer realm="http://127.0.0.1:5000/auth/realms/demo/protocol/docker-v2/auth",service="registry",scope="repository:team/app:pull"';
  assert.deepEqual(bearerChallenge(h), {
    realm: 'http://127.0.0.1:5000/auth/realms/demo/protocol/docker-v2/auth',
    service: 'registry',
    scope: 'repository:team/app:pull',
  });
});

test('challenge forms', async (t) => {
  const cases = [
    ['', []],
    ['Basic realm="registry-stack"', [{ scheme: 'basic', params: { realm: 'registry-stack' } }]],
    ['bearer Realm=x, Service="a b"', [{ scheme: 'bearer', params: { realm: 'x', service: 'a b' } }]],
    ['Bearer realm="a\\"b",error="invalid_token"', [{ scheme: 'bearer', params: { realm: 'a"b', error: 'invalid_token' } }]],
    [
      'Basic realm="r", Bearer realm="t",scope="repository:a:pull repository:b:pull"',
      [
        { scheme: 'basic', params: { realm: 'r' } },
        { scheme: 'bearer', params: { realm: 't', scope: 'repository:a:pull repository:b:pull' } },
      ],
    ],
  ];
  for (const [h, want] of cases) await t.test(h || '(empty)', () => assert.deepEqual(parseChallenges(h), want));
  assert.equal(bearerChallenge('Basic realm="x"'), null);
});
