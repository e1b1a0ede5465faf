// The browser's Web Storage. Merely touching it throws where storage is
// blocked (cookies off, some private modes); then callers get null and keep
// things in memory or not at all.

import { preferences } from './lib/prefs.js';

export function webStorage(name) {
  try {
    const s = window[name];
    s.getItem('probe');
    return s;
  } catch {
    return null;
  }
}

/** prefs are the display preferences, kept in localStorage. */
export const prefs = preferences(webStorage('localStorage'));
