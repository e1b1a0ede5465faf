// Colour themes: the user's choice (auto, light, dark) and the palette it
// resolves to. Pure: the browser side is ../theme.js.

export const THEMES = ['auto', 'light', 'dark'];

/** resolveTheme is the palette for a choice; auto follows the system. */
export function resolveTheme(choice, systemDark) {
  if (choice === 'light' || choice === 'dark') return choice;
  return systemDark ? 'dark' : 'light';
}

/** nextTheme cycles auto → light → dark → auto. */
export function nextTheme(choice) {
  return THEMES[(THEMES.indexOf(choice) + 1) % THEMES.length];
}
