import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alsoDeleted, compareTags, sortRows, tagOrder } from '../static/js/lib/tags.js';

test('number-aware tag order', async (t) => {
  const cases = [
    [['v10', 'v2', 'v1'], ['v1', 'v2', 'v10']],
    [['1.10.0', '1.9.1', '1.9.0', '2.0'], ['1.9.0', '1.9.1', '1.10.0', '2.0']],
    [['1.0.0', '1.0.0-rc1', '1.0.0-rc2', '0.9'], ['0.9', '1.0.0-rc1', '1.0.0-rc2', '1.0.0']],
    [['latest', '3', 'edge', '20'], ['3', '20', 'edge', 'latest']],
    [['3.19-alpine', '3.9-alpine', '3.19'], ['3.9-alpine', '3.19-alpine', '3.19']],
    [['007', '7', '10'], ['7', '007', '10']],
    [['99999999999999999999', '100000000000000000000'], ['99999999999999999999', '100000000000000000000']],
  ];
  for (const [input, want] of cases) await t.test(input.join(','), () => assert.deepEqual([...input].sort(compareTags), want));
});

test('sortRows by size and date, unknown values last', () => {
  const rows = [
    { tag: 'a', size: 300, created: '2024-01-03T00:00:00Z' },
    { tag: 'b', size: undefined, created: undefined },
    { tag: 'c', size: 100, created: '2024-01-01T00:00:00Z' },
    { tag: 'd', size: 200, created: '2024-01-02T00:00:00Z' },
  ];
  assert.deepEqual(sortRows(rows, 'size', 'asc').map((r) => r.tag), ['c', 'd', 'a', 'b']);
  assert.deepEqual(sortRows(rows, 'size', 'desc').map((r) => r.tag), ['a', 'd', 'c', 'b']);
  assert.deepEqual(sortRows(rows, 'created', 'desc').map((r) => r.tag), ['a', 'd', 'c', 'b']);
  assert.deepEqual(sortRows(rows, 'tag', 'desc').map((r) => r.tag), ['d', 'c', 'b', 'a']);
  assert.equal(rows[0].tag, 'a', 'input not mutated');
});

test('tagOrder filters, then sorts by what is known', () => {
  const tags = ['v1', 'v10', 'v2', 'latest', 'edge'];
  const known = new Map([
    ['v1', { size: 10, created: '2024-01-01T00:00:00Z' }],
    ['v2', { size: 30, created: '2024-02-01T00:00:00Z' }],
    ['v10', new Error('not found')],
    ['latest', { size: 20, created: '2024-03-01T00:00:00Z' }],
  ]);
  const details = (t) => known.get(t);
  assert.deepEqual(tagOrder(tags, { key: 'tag', dir: 'desc', details }), ['v10', 'v2', 'v1', 'latest', 'edge']);
  assert.deepEqual(tagOrder(tags, { filter: 'V', key: 'tag', dir: 'asc', details }), ['v1', 'v2', 'v10']);
  assert.deepEqual(tagOrder(tags, { key: 'size', dir: 'desc', details }), ['v2', 'latest', 'v1', 'edge', 'v10'], 'errors and unknown last');
  assert.deepEqual(tagOrder(tags, { key: 'created', dir: 'asc', details }), ['v1', 'v2', 'latest', 'edge', 'v10']);
  assert.deepEqual(tagOrder([], { filter: 'x' }), []);
});

test('alsoDeleted names the other tags on a deleted digest', () => {
  const known = new Map([
    ['v1', { digest: 'sha256:a' }],
    ['stable', { digest: 'sha256:a' }],
    ['v2', { digest: 'sha256:b' }],
    ['broken', new Error('denied')],
    ['pending', Promise.resolve(null)],
  ]);
  assert.deepEqual(alsoDeleted(known, ['v1'], new Set(['sha256:a'])), ['stable']);
  assert.deepEqual(alsoDeleted(known, ['v1', 'stable'], ['sha256:a']), []);
  assert.deepEqual(alsoDeleted(known, ['v2'], ['sha256:b']), []);
});
