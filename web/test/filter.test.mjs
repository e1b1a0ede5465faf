import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matching } from '../static/js/lib/filter.js';

test('matching is a case-insensitive substring match', () => {
  const names = ['team/app', 'team/multiarch', 'Other/Thing'];
  assert.deepEqual(matching(names, 'MULTI'), ['team/multiarch']);
  assert.deepEqual(matching(names, 'thing'), ['Other/Thing']);
  assert.deepEqual(matching(names, '  app '), ['team/app'], 'surrounding blanks are ignored');
  assert.deepEqual(matching(names, 'nope'), []);
});

test('a blank filter keeps everything', () => {
  const names = ['a', 'b'];
  for (const q of ['', '   ', undefined]) assert.deepEqual(matching(names, q), names);
});
