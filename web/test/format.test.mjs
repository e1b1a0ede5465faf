import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatDate, kindText, plural, pullCommand, relativeTime, shortDigest } from '../static/js/lib/format.js';

test('formatBytes', async (t) => {
  const cases = [
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.00 kB'],
    [1536, '1.54 kB'],
    [12_345_678, '12.3 MB'],
    [3_500_000_000, '3.50 GB'],
    [-1, '—'],
    [undefined, '—'],
    [NaN, '—'],
  ];
  for (const [n, want] of cases) await t.test(String(n), () => assert.equal(formatBytes(n), want));
});

test('formatDate', () => {
  assert.equal(formatDate('2024-03-05T07:08:09.123Z'), '2024-03-05 07:08 UTC');
  assert.equal(formatDate('2024-03-05T09:08:09+02:00'), '2024-03-05 07:08 UTC');
  assert.equal(formatDate('0001-01-01T00:00:00Z'), '—');
  assert.equal(formatDate('1970-01-01T00:00:00Z'), '—');
  assert.equal(formatDate(''), '—');
  assert.equal(formatDate('garbage'), '—');
});

test('relativeTime', () => {
  const now = Date.parse('2024-03-10T00:00:00Z');
  assert.equal(relativeTime('2024-03-09T23:59:59Z', now), '1 second ago');
  assert.equal(relativeTime('2024-03-09T23:00:00Z', now), '1 hour ago');
  assert.equal(relativeTime('2024-03-07T00:00:00Z', now), '3 days ago');
  assert.equal(relativeTime('2022-03-07T00:00:00Z', now), '2 years ago');
  assert.equal(relativeTime('', now), '');
});

test('digests, pull commands, plurals', () => {
  assert.equal(shortDigest('sha256:0123456789abcdef0123'), 'sha256:0123456789ab');
  assert.equal(shortDigest('sha512:' + 'c'.repeat(128)), 'sha512:cccccccccccc');
  assert.equal(pullCommand('reg:5000', 'team/app', 'v1'), 'docker pull reg:5000/team/app:v1');
  assert.equal(pullCommand('reg:5000', 'team/app', 'sha256:abc'), 'docker pull reg:5000/team/app@sha256:abc');
  assert.equal(plural(1, 'tag'), '1 tag');
  assert.equal(plural(1200, 'repository', 'repositories'), '1,200 repositories');
});

test('kindText', () => {
  assert.equal(kindText({ kind: 'image', kindLabel: 'Image' }), 'Image');
  assert.equal(kindText({ kind: 'index', kindLabel: 'Multi-platform index', platforms: ['linux/amd64', 'linux/arm64'] }), 'Multi-platform index · 2 platforms');
  assert.equal(kindText({ kind: 'index', kindLabel: 'Multi-platform index', platforms: ['linux/amd64'] }), 'Multi-platform index · 1 platform');
  assert.equal(kindText({ kind: 'artifact', kindLabel: 'Artifact', artifactType: 'application/spdx+json' }), 'Artifact · application/spdx+json');
});
