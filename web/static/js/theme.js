// Colour theme: the server's default (ui.theme), overridden by the user's
// choice, which is a display preference (not a secret) kept in localStorage.

const KEY = 'registry-stack.theme';
const ORDER = ['auto', 'light', 'dark'];

function stored() {
  try {
    const v = localStorage.getItem(KEY);
    return ORDER.includes(v) ? v : '';
  } catch {
    return '';
  }
}

export function currentTheme(serverDefault) {
  return stored() || (ORDER.includes(serverDefault) ? serverDefault : 'auto');
}

export function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
}

/** nextTheme cycles auto → light → dark and remembers the choice. */
export function nextTheme(theme) {
  const next = ORDER[(ORDER.indexOf(theme) + 1) % ORDER.length];
  try {
    localStorage.setItem(KEY, next);
  } catch {
    // preference not kept; still applied for this page
  }
  return next;
}
