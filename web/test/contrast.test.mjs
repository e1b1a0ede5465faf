// WCAG contrast of the colour pairs the stylesheet uses, in both themes:
// 4.5:1 for text, 3:1 for input borders and status colours (WCAG 1.4.3,
// 1.4.11). Reads the variables straight from app.css.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const css = readFileSync(new URL('../static/css/app.css', import.meta.url), 'utf8');

function block(selector) {
  const i = css.indexOf(selector + ' {');
  assert.ok(i >= 0, `app.css has no ${selector} block`);
  const body = css.slice(i, css.indexOf('}', i));
  return Object.fromEntries([...body.matchAll(/--([a-z-]+):\s*(#[0-9a-f]{6})/gi)].map((m) => [m[1], m[2]]));
}

function luminance(hex) {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

function ratio(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const TEXT = 4.5;
const UI = 3;
const pairs = [
  ['fg', 'bg', TEXT],
  ['fg', 'bg-soft', TEXT],
  ['fg', 'bg-hover', TEXT],
  ['fg', 'code-bg', TEXT],
  ['muted', 'bg', TEXT],
  ['muted', 'bg-soft', TEXT],
  ['accent', 'bg', TEXT],
  ['accent', 'bg-soft', TEXT],
  ['accent', 'bg-hover', TEXT],
  ['accent-fg', 'accent', TEXT],
  ['danger', 'bg', TEXT],
  ['danger-fg', 'danger', TEXT],
  ['warn-fg', 'warn-bg', TEXT],
  ['ok', 'bg', UI],
  ['input-border', 'bg', UI],
  ['focus', 'bg', UI],
];

for (const [name, selector] of [
  ['light', ':root'],
  ['dark', ':root[data-theme="dark"]'],
  ['auto (dark preference)', ':root[data-theme="auto"]'],
]) {
  test(`contrast in the ${name} theme`, () => {
    const vars = block(selector);
    for (const [fg, bg, min] of pairs) {
      assert.ok(vars[fg] && vars[bg], `--${fg} or --${bg} missing`);
      const r = ratio(vars[fg], vars[bg]);
      assert.ok(r >= min, `--${fg} ${vars[fg]} on --${bg} ${vars[bg]}: ${r.toFixed(2)}:1 < ${min}:1`);
    }
  });
}

test('ratio', () => {
  assert.equal(ratio('#ffffff', '#000000'), 21);
  assert.equal(ratio('#777777', '#777777'), 1);
});

test('the automatic dark theme uses the same colours as the explicit one', () => {
  assert.deepEqual(block(':root[data-theme="auto"]'), block(':root[data-theme="dark"]'));
});
