// Colour theme. The server writes its default (ui.theme) into
// <html data-theme>; the user's choice, kept in localStorage, overrides it.
// This module runs before the first paint (index.html loads it with
// blocking="render") and replaces the attribute with the palette, light or
// dark, so app.css writes the dark palette once. auto follows the system
// setting, live.

import { THEMES, nextTheme, resolveTheme } from './lib/theme.js';
import { prefs } from './storage.js';

const KEY = 'registry-stack.theme';
const root = document.documentElement;
const systemDark = window.matchMedia('(prefers-color-scheme: dark)');
const serverDefault = root.dataset.theme;
let choice = prefs.choice(KEY, THEMES) || (THEMES.includes(serverDefault) ? serverDefault : 'auto');

function apply() {
  root.dataset.theme = resolveTheme(choice, systemDark.matches);
}

apply();
systemDark.addEventListener('change', apply);

/** themeChoice is what the header button shows: auto, light or dark. */
export const themeChoice = () => choice;

/** changeTheme cycles auto → light → dark, remembers and applies the choice. */
export function changeTheme() {
  choice = nextTheme(choice);
  prefs.setChoice(KEY, choice);
  apply();
  return choice;
}
