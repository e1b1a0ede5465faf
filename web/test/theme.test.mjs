import assert from 'node:assert/strict';
import { test } from 'node:test';
import { THEMES, nextTheme, resolveTheme } from '../static/js/lib/theme.js';

test('auto follows the system, light and dark do not', () => {
  assert.equal(resolveTheme('auto', true), 'dark');
  assert.equal(resolveTheme('auto', false), 'light');
  for (const system of [true, false]) {
    assert.equal(resolveTheme('light', system), 'light');
    assert.equal(resolveTheme('dark', system), 'dark');
  }
  assert.equal(resolveTheme('bogus', true), 'dark', 'anything else counts as auto');
});

test('the header button cycles auto, light, dark', () => {
  assert.deepEqual(THEMES, ['auto', 'light', 'dark']);
  assert.equal(nextTheme('auto'), 'light');
  assert.equal(nextTheme('light'), 'dark');
  assert.equal(nextTheme('dark'), 'auto');
});
