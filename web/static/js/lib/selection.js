// Multi-selection of rows with checkboxes: click toggles one, shift-click
// sets the whole range from the last clicked row to the same state.
// Pure: works on arrays and Sets, no DOM.

/**
 * toggle returns {selected, anchor} after a click on key. order lists the
 * keys as currently displayed; checked is the clicked box's new state.
 */
export function toggle(selected, order, key, { shift = false, anchor = null, checked = !selected.has(key) } = {}) {
  const next = new Set(selected);
  const from = anchor === null ? -1 : order.indexOf(anchor);
  const to = order.indexOf(key);
  if (shift && from >= 0 && to >= 0) {
    const [lo, hi] = from < to ? [from, to] : [to, from];
    for (let i = lo; i <= hi; i++) {
      if (checked) next.add(order[i]);
      else next.delete(order[i]);
    }
  } else if (checked) {
    next.add(key);
  } else {
    next.delete(key);
  }
  return { selected: next, anchor: key };
}

/** selectAll selects every key in order, or none when all are selected already. */
export function selectAll(selected, order) {
  const all = order.length > 0 && order.every((k) => selected.has(k));
  return all ? new Set() : new Set(order);
}

/** state says what the "select all" box shows: 'none', 'some' or 'all'. */
export function state(selected, order) {
  const n = order.filter((k) => selected.has(k)).length;
  if (n === 0) return 'none';
  return n === order.length ? 'all' : 'some';
}

/** keepShown drops the selected keys that are not in order (hidden by a filter), so a delete only touches rows on screen. */
export function keepShown(selected, order) {
  const shown = new Set(order);
  return new Set([...selected].filter((k) => shown.has(k)));
}
