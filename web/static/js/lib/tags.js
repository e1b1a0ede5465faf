// The tag table's logic: number-aware ordering of tags (v2 < v10,
// 1.9 < 1.10, a pre-release before its release: 1.0.0-rc1 < 1.0.0), the
// rows shown, and which tags a delete by digest takes along. Pure: no DOM.

import { matching } from './filter.js';

const CHUNK = /(\d+)|(\D+)/g;

function chunks(s) {
  return String(s).match(CHUNK) || [];
}

function compareDigits(a, b) {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  if (x !== y) return x < y ? -1 : 1;
  return a.length - b.length; // "01" after "1" so the order is total
}

/** compareTags orders two tags number-aware; suitable for Array#sort. */
export function compareTags(a, b) {
  const ca = chunks(a);
  const cb = chunks(b);
  const n = Math.min(ca.length, cb.length);
  for (let i = 0; i < n; i++) {
    const x = ca[i];
    const y = cb[i];
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    let c;
    if (dx && dy) c = compareDigits(x, y);
    else if (dx !== dy) c = dx ? -1 : 1; // numbers before words
    else c = x.localeCompare(y, 'en', { sensitivity: 'variant' });
    if (c !== 0) return c;
  }
  if (ca.length === cb.length) return 0;
  // One is a prefix of the other: "1.0.0-rc1" is a pre-release of "1.0.0".
  const longer = ca.length > cb.length ? ca : cb;
  const sign = ca.length > cb.length ? 1 : -1;
  return longer[n].startsWith('-') ? -sign : sign;
}

/**
 * sortRows sorts tag rows ({tag, size, created}) by key ('tag' | 'size' |
 * 'created') in dir ('asc' | 'desc'). Rows whose value is not known yet go
 * last either way; ties fall back to the tag order.
 */
export function sortRows(rows, key = 'tag', dir = 'asc') {
  const sign = dir === 'desc' ? -1 : 1;
  const value = (r) => {
    if (key === 'size') return typeof r.size === 'number' ? r.size : null;
    if (key === 'created') {
      const t = r.created ? Date.parse(r.created) : NaN;
      return Number.isNaN(t) ? null : t;
    }
    return r.tag;
  };
  return [...rows].sort((a, b) => {
    if (key === 'tag') return sign * compareTags(a.tag, b.tag);
    const va = value(a);
    const vb = value(b);
    if (va === null && vb === null) return compareTags(a.tag, b.tag);
    if (va === null) return 1;
    if (vb === null) return -1;
    return sign * (va - vb) || compareTags(a.tag, b.tag);
  });
}

/**
 * tagOrder lists the tags the table shows: those matching filter, sorted
 * by key and dir. details(tag) is what is known of a tag so far: its
 * details ({size, created}), an Error, or undefined.
 */
export function tagOrder(tags, { filter = '', key = 'tag', dir = 'asc', details = () => undefined } = {}) {
  const rows = matching(tags, filter).map((tag) => {
    const d = details(tag);
    const ok = d && !(d instanceof Error);
    return { tag, size: ok ? d.size : undefined, created: ok ? d.created : undefined };
  });
  return sortRows(rows, key, dir).map((r) => r.tag);
}

/**
 * alsoDeleted lists the tags outside chosen whose known digest is among
 * digests: deleting a manifest by digest removes every tag pointing to it.
 * known maps tag to details ({digest}), an Error or a pending Promise.
 */
export function alsoDeleted(known, chosen, digests) {
  const gone = new Set(digests);
  const out = [];
  for (const [tag, d] of known) {
    if (d && d.digest && gone.has(d.digest) && !chosen.includes(tag)) out.push(tag);
  }
  return out;
}
