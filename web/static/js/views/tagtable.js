// The table of a repository's tags: the rows the filter lets through in
// the chosen sort order, each row filled in when its details arrive, the
// digest column on demand, and the count in the status line. Cosign's
// fallback tags (sha256-<hex>.sig, .att, .sbom) are not rows unless asked
// for: they show as a badge on the row of the image they belong to.

import { clear, h, link } from '../dom.js';
import { attachedText, groupTags } from '../lib/cosigntags.js';
import { formatBytes, kindText, plural, pullCommand, shortDigest } from '../lib/format.js';
import { describe } from '../lib/problem.js';
import { pathFor } from '../lib/route.js';
import { tagOrder } from '../lib/tags.js';
import { copyButton, dateTime, loading, markRows, pullHost } from './common.js';

/**
 * tagTable shows name's tags with details from loader. selection (or
 * null when deleting is off or not allowed; setSelection can bring it
 * later) supplies the checkboxes and hears of every render. status is the
 * line above the table.
 */
export function tagTable(ctx, { name, loader, selection, status, filter, digests, fallback = false }) {
  const state = { all: [], tags: [], attached: new Map(), hidden: 0, fallback, filter, digests, sort: { key: 'tag', dir: 'desc' } };
  const cells = new Map(); // tag -> {type, size, created, digest, attached}
  const element = h('div', { class: 'list' }, loading('Loading tags…'));
  const digestClass = () => ['digest', state.digests ? '' : 'hidden'];
  if (selection) selection.attach(element);

  function fill(tag) {
    const c = cells.get(tag);
    const d = loader.details(tag);
    if (!c || !d) return;
    if (d instanceof Error) {
      c.type.textContent = describe(d).title;
      c.type.className = 'error-text';
      return;
    }
    c.type.textContent = kindText(d);
    c.type.title = d.mediaType;
    c.size.textContent = formatBytes(d.size);
    c.created.replaceChildren(d.created ? dateTime(d.created) : '—');
    c.digest.replaceChildren(h('code', { title: d.digest }, shortDigest(d.digest)), copyButton(d.digest, `Copy digest of ${tag}`));
    const group = state.attached.get(d.digest);
    c.attached.replaceChildren(
      group
        ? link(pathFor({ view: 'manifest', name, tag }), attachedText(group), {
            class: 'badge',
            'data-attached': tag,
            title: `Cosign tags of this image: ${group.map((g) => g.tag).join(', ')}`,
          })
        : '',
    );
  }

  /** useTags shows all tags, or all but the fallback tags, as rows. */
  function useTags() {
    const g = groupTags(state.all);
    state.attached = g.attached;
    state.hidden = state.fallback ? 0 : g.hidden;
    state.tags = state.fallback ? state.all : g.plain;
  }

  function sortHeader(key, label, cls = '') {
    const active = state.sort.key === key;
    const asc = state.sort.dir === 'asc';
    return h(
      'th',
      { scope: 'col', 'aria-sort': active ? (asc ? 'ascending' : 'descending') : 'none', class: cls },
      h(
        'button',
        { type: 'button', class: 'sort', 'data-sort': key, onclick: () => sortBy(key) },
        label,
        h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (asc ? '▲' : '▼') : ''),
      ),
    );
  }

  // A second click on the same column reverses it; a new column starts descending.
  async function sortBy(key) {
    const dir = state.sort.key === key && state.sort.dir === 'desc' ? 'asc' : 'desc';
    state.sort = { key, dir };
    const missing = key === 'tag' ? 0 : loader.missing(state.tags);
    if (missing) {
      status.textContent = `Loading details of ${plural(missing, 'tag')} to sort…`;
      await loader.loadAll(state.tags);
      if (ctx.signal.aborted) return;
    }
    render();
    const btn = element.querySelector(`button[data-sort="${key}"]`);
    if (btn) btn.focus();
  }

  function row(tag, host) {
    const c = {
      type: h('td', { class: 'muted' }, '…'),
      size: h('td', { class: 'num' }, '…'),
      created: h('td', { class: 'nowrap' }, '…'),
      digest: h('td', { class: digestClass() }, '…'),
      attached: h('span', {}),
    };
    cells.set(tag, c);
    const tr = h(
      'tr',
      { dataset: { tag } },
      selection ? selection.rowCell(tag) : null,
      h('th', { scope: 'row' }, link(pathFor({ view: 'manifest', name, tag }), tag, { class: 'tag' }), c.attached),
      c.type,
      c.size,
      c.created,
      c.digest,
      h('td', { class: 'actions-cell' }, copyButton(pullCommand(host, name, tag), `Copy pull command for ${name}:${tag}`)),
    );
    fill(tag);
    loader.watch(tr);
    return tr;
  }

  function render() {
    cells.clear();
    loader.unwatchAll();
    if (state.all.length === 0) {
      clear(element).append(h('div', { class: 'empty' }, h('h2', {}, 'No tags'), h('p', {}, 'This repository has no tagged manifests.')));
      status.textContent = '';
      return;
    }
    const order = tagOrder(state.tags, { filter: state.filter, ...state.sort, details: loader.details });
    const grouped = state.hidden ? ` ${plural(state.hidden, 'signature tag')} grouped under ${state.attached.size === 1 ? 'its image' : 'their images'}.` : '';
    status.textContent =
      (state.filter
        ? `${plural(order.length, 'tag')} of ${state.tags.length.toLocaleString('en-US')} match “${state.filter}”.`
        : `${plural(state.tags.length, 'tag')}.`) + grouped;
    const host = pullHost(ctx);
    const rows = order.map((tag) => row(tag, host));
    const table = h(
      'table',
      { class: 'data tags' },
      h('caption', { class: 'offscreen' }, `Tags of ${name}`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          selection ? selection.headCell() : null,
          sortHeader('tag', 'Tag'),
          h('th', { scope: 'col' }, 'Type'),
          sortHeader('size', 'Size', 'num'),
          sortHeader('created', 'Created'),
          h('th', { scope: 'col', class: digestClass() }, 'Digest'),
          h('th', { scope: 'col' }, h('span', { class: 'offscreen' }, 'Pull command')),
        ),
      ),
      h('tbody', {}, rows),
    );
    clear(element).append(h('div', { class: 'table-wrap' }, table));
    if (selection) selection.shown(order);
    if (rows.length) markRows('rs:tag-rows');
  }

  return {
    element,
    fill,
    render,
    setTags(tags) {
      state.all = tags;
      useTags();
      render();
    },
    /** showFallback shows cosign's fallback tags as rows of their own (on) or only as badges. */
    showFallback(on) {
      state.fallback = on;
      useTags();
      render();
    },
    setFilter(q) {
      state.filter = q;
      render();
    },
    /** setSelection adds the checkboxes of selection, redrawing rows already shown. */
    setSelection(sel) {
      selection = sel;
      if (!sel) return;
      sel.attach(element);
      if (state.tags.length) render();
    },
    showDigests(on) {
      state.digests = on;
      for (const el of element.querySelectorAll('.digest')) el.classList.toggle('hidden', !on);
    },
  };
}
