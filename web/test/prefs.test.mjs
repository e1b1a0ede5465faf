import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preferences } from '../static/js/lib/prefs.js';
import { MemoryStorage } from '../testsupport/fakes.mjs';

// Private mode and blocked cookies: every call throws.
const throwing = {
  getItem() {
    throw new Error('SecurityError');
  },
  setItem() {
    throw new Error('QuotaExceededError');
  },
};

test('flags are off until stored on, and are kept', () => {
  const storage = new MemoryStorage();
  const p = preferences(storage);
  assert.equal(p.flag('k'), false);
  p.setFlag('k', true);
  assert.equal(storage.getItem('k'), 'on');
  assert.equal(preferences(storage).flag('k'), true, 'a later page reads it back');
  p.setFlag('k', false);
  assert.equal(p.flag('k'), false);
});

test('a choice must be one of the allowed values', () => {
  const storage = new MemoryStorage();
  const p = preferences(storage);
  assert.equal(p.choice('theme', ['light', 'dark']), '');
  p.setChoice('theme', 'dark');
  assert.equal(p.choice('theme', ['light', 'dark']), 'dark');
  storage.setItem('theme', 'purple');
  assert.equal(p.choice('theme', ['light', 'dark']), '', 'an unknown stored value is ignored');
});

test('a storage that throws or is missing keeps nothing and breaks nothing', () => {
  for (const storage of [throwing, null]) {
    const p = preferences(storage);
    assert.doesNotThrow(() => p.setFlag('k', true));
    assert.doesNotThrow(() => p.setChoice('theme', 'dark'));
    assert.equal(p.flag('k'), false);
    assert.equal(p.choice('theme', ['dark']), '');
  }
});
