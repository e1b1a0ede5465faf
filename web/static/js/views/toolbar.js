// Controls of the list toolbars. The filter box: typing filters, Escape
// clears, the text is kept in the URL as ?q= (reload and shared links keep
// it), Ctrl+F or F3 focuses it. Switches: on/off display preferences that
// are remembered across visits.

import { h } from '../dom.js';
import { prefs } from '../storage.js';

/**
 * filterBox returns the (offscreen) label and the input for filtering
 * `what`. url(q) is the page's address with the filter q; onChange(q) runs
 * on every edit.
 */
export function filterBox({ what, value, url, onChange, describedBy }) {
  const input = h('input', {
    type: 'search',
    id: 'filter',
    class: 'filter',
    placeholder: `Filter ${what}  (Ctrl+F)`,
    value,
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-describedby': describedBy,
    'data-filter': true,
  });
  input.addEventListener('input', () => {
    // replaceState: each keystroke is not a step for the back button.
    history.replaceState(history.state, '', url(input.value));
    onChange(input.value);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && input.value) {
      input.value = '';
      input.dispatchEvent(new Event('input'));
    }
  });
  return [h('label', { for: 'filter', class: 'offscreen' }, `Filter ${what}`), input];
}

/** focusFilterOnFind makes Ctrl+F and F3 focus the filter box of whatever page root shows. */
export function focusFilterOnFind(root) {
  document.addEventListener('keydown', (e) => {
    const find = ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'f') || e.key === 'F3';
    if (!find) return;
    const f = root.querySelector('[data-filter]');
    if (!f) return; // no filter on this page: keep the browser's own find
    e.preventDefault();
    f.focus();
    f.select();
  });
}

/** prefSwitch is a labelled checkbox for the on/off preference key; onChange(on) runs when it is flipped. */
export function prefSwitch({ id, key, label, onChange }) {
  const box = h('input', { type: 'checkbox', id, checked: prefs.flag(key) });
  box.addEventListener('change', () => {
    prefs.setFlag(key, box.checked);
    onChange(box.checked);
  });
  return h('label', { class: 'check' }, box, label);
}
