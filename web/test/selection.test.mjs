import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keepShown, selectAll, state, toggle } from '../static/js/lib/selection.js';

const order = ['a', 'b', 'c', 'd', 'e'];

test('click toggles one row', () => {
  let r = toggle(new Set(), order, 'b');
  assert.deepEqual([...r.selected], ['b']);
  r = toggle(r.selected, order, 'b', { anchor: r.anchor });
  assert.deepEqual([...r.selected], []);
});

test('shift-click selects the range from the anchor, in either direction', () => {
  let r = toggle(new Set(), order, 'b');
  r = toggle(r.selected, order, 'd', { shift: true, anchor: r.anchor, checked: true });
  assert.deepEqual([...r.selected].sort(), ['b', 'c', 'd']);
  r = toggle(r.selected, order, 'a', { shift: true, anchor: 'c', checked: false });
  assert.deepEqual([...r.selected].sort(), ['d']);
});

test('shift-click without anchor acts as a click', () => {
  const r = toggle(new Set(), order, 'c', { shift: true });
  assert.deepEqual([...r.selected], ['c']);
});

test('select all and its state', () => {
  assert.equal(state(new Set(), order), 'none');
  assert.equal(state(new Set(['a']), order), 'some');
  const all = selectAll(new Set(['a']), order);
  assert.equal(state(all, order), 'all');
  assert.equal(state(selectAll(all, order), order), 'none');
});

test('keepShown drops what a filter hides', () => {
  const selected = new Set(['a', 'c', 'x']);
  assert.deepEqual([...keepShown(selected, order)], ['a', 'c']);
  assert.deepEqual([...selected], ['a', 'c', 'x'], 'input not mutated');
  assert.deepEqual([...keepShown(selected, [])], []);
});
