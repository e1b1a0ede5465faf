import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limiter } from '../static/js/lib/pool.js';

test('limiter never runs more than max at once and keeps results', async () => {
  const run = limiter(3);
  let active = 0;
  let peak = 0;
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setImmediate(r));
        active--;
        return i * 2;
      }),
    ),
  );
  assert.equal(peak, 3);
  assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i * 2));
});

test('a failing task rejects only its own promise', async () => {
  const run = limiter(1);
  const bad = run(() => Promise.reject(new Error('boom')));
  const good = run(() => 42);
  await assert.rejects(bad, /boom/);
  assert.equal(await good, 42);
});
