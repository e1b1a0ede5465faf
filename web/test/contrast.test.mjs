// WCAG contrast of the colour pairs the stylesheet uses, in both themes:
// 4.5:1 for text, 3:1 for input borders and status colours (WCAG 1.4.3,
// 1.4.11). Reads the variables straight from app.css.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const css = readFileSync(new URL('../static/css/app.css', import.meta.url), 'utf8');

function rules(selector) {
  const i = css.indexOf(selector + ' {');
  assert.ok(i >= 0, `app.css has no ${selector} block`);
  return css.slice(i, css.indexOf('}', i));
}

/** block is the colour variables a selector sets: {name: '#rrggbb'}. */
function block(selector) {
  return Object.fromEntries([...rules(selector).matchAll(/--([a-z-]+):\s*(#[0-9a-f]{6})/gi)].map((m) => [m[1], m[2]]));
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

const THEMES = [
  ['light', ':root'],
  ['dark', ':root[data-theme="dark"]'],
];

for (const [name, selector] of THEMES) {
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

// A variable the dark block forgets would silently keep its light colour.
test('the dark palette sets every variable the light one does', () => {
  const names = (selector) => [...rules(selector).matchAll(/--([a-z-]+):/g)].map((m) => m[1]).sort();
  assert.deepEqual(names(THEMES[1][1]), names(THEMES[0][1]));
});

// js/theme.js resolves "auto", so the dark colours stand in one place only.
test('the dark palette is written once', () => {
  assert.doesNotMatch(css, /prefers-color-scheme/);
  assert.equal(css.match(/color-scheme:\s*dark/g).length, 1);
});
