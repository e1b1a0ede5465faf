import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextLast, parseLinks } from '../static/js/lib/link.js';

test('distribution Link header', () => {
  assert.equal(nextLast('</v2/_catalog?last=team%2Fapp&n=100>; rel="next"'), 'team/app');
  assert.equal(nextLast('</v2/a/tags/list?n=2&last=v10>; rel=next'), 'v10');
  assert.equal(nextLast(''), null);
  assert.equal(nextLast(null), null);
  assert.equal(nextLast('</x?last=a>; rel="prev"'), null);
});

test('several links', () => {
  assert.deepEqual(parseLinks('</a>; rel="prev", </b?c=1,2>; rel="next last"'), { prev: '/a', next: '/b?c=1,2', last: '/b?c=1,2' });
});
