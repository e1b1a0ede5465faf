import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../static/js/lib/apierror.js';
import { describe, kindForStatus } from '../static/js/lib/problem.js';

test('every failure says what to do', async (t) => {
  const cases = [
    ['credentials', 'signin', /Wrong user name or password/],
    ['unauthorized', 'signin', /Sign-in required/],
    ['forbidden', 'catalog', /Access denied/],
    ['notfound', 'catalog', /Not found/],
    ['network', 'retry', /Registry unreachable/],
    ['unavailable', 'retry', /Sign-in service unavailable/],
    ['server', 'retry', /Registry error/],
    ['disabled', 'none', /disabled/],
  ];
  for (const [kind, action, title] of cases) {
    await t.test(kind, () => {
      const p = describe(new ApiError(kind, 'x'), 'repository a/b');
      assert.equal(p.action, action);
      assert.match(p.title, title);
      assert.ok(p.message.length > 20);
    });
  }
});

test('Keycloak outage mentions Keycloak and the retry delay', () => {
  const p = describe(new ApiError('unavailable', 'keycloak unreachable', { retryAfter: '5' }));
  assert.match(p.message, /Keycloak/);
  assert.match(p.message, /5 seconds/);
});

test('statuses', () => {
  assert.equal(kindForStatus(401), 'unauthorized');
  assert.equal(kindForStatus(403), 'forbidden');
  assert.equal(kindForStatus(404), 'notfound');
  assert.equal(kindForStatus(500), 'server');
});
