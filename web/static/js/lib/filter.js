// The filter boxes of the lists: a case-insensitive substring match.
// Pure: no DOM.

/** matching keeps the names that contain q (all of them when q is blank). */
export function matching(names, q) {
  const f = String(q || '').trim().toLowerCase();
  return f ? names.filter((n) => n.toLowerCase().includes(f)) : names;
}
