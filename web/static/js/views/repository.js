// One repository's tags: number-aware sort, size, creation date, digests
// on demand, pull commands, and multi-select delete with confirmation.

import { announce, clear, h, icon, link } from '../dom.js';
import { tagDetails } from '../details.js';
import { isAbort } from '../lib/apierror.js';
import { formatBytes, formatDate, plural, pullCommand, relativeTime, shortDigest } from '../lib/format.js';
import { limiter } from '../lib/pool.js';
import { describe } from '../lib/problem.js';
import { pathFor } from '../lib/route.js';
import * as sel from '../lib/selection.js';
import { sortRows } from '../lib/tags.js';
import { breadcrumb, confirm, copyButton, loading, markRows, problem, pullHost } from './common.js';

const DIGESTS_KEY = 'registry-stack.showDigests';

function digestsPreference() {
  try {
    return localStorage.getItem(DIGESTS_KEY) === 'on';
  } catch {
    return false;
  }
}

export function repositoryView(ctx, route) {
  const name = route.name;
  const canDelete = Boolean(ctx.config.deleteEnabled);
  const state = {
    tags: [],
    details: new Map(), // tag -> details | Promise | ApiError
    selected: new Set(),
    anchor: null,
    sort: { key: 'tag', dir: 'desc' },
    filter: route.q || '',
    digests: digestsPreference(),
    order: [],
  };
  const cells = new Map(); // tag -> {type, size, created, digest}
  const limit = limiter(6);

  const filter = h('input', {
    type: 'search',
    id: 'filter',
    class: 'filter',
    placeholder: 'Filter tags  (Ctrl+F)',
    value: state.filter,
    autocomplete: 'off',
    spellcheck: 'false',
    'data-filter': true,
  });
  const digestsBox = h('input', { type: 'checkbox', id: 'show-digests', checked: state.digests });
  const deleteBtn = h('button', { type: 'button', class: 'btn btn-danger', disabled: true, hidden: !canDelete, 'data-delete-selected': true }, icon('trash'), h('span', {}, 'Delete'));
  const status = h('p', { class: 'muted', role: 'status', id: 'tags-status' });
  const body = h('div', { class: 'list' }, loading('Loading tags…'));
  const heading = h('h1', { tabindex: '-1' }, name);

  ctx.main.append(
    breadcrumb(name),
    h(
      'div',
      { class: 'page-head' },
      heading,
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'filter', class: 'offscreen' }, 'Filter tags'),
        filter,
        h('label', { class: 'check' }, digestsBox, 'Digests'),
        deleteBtn,
      ),
    ),
    status,
    body,
  );
  ctx.setTitle(name);

  const observer = new IntersectionObserver(
    (entries) => {
      for (const e of entries) {
        if (!e.isIntersecting) continue;
        observer.unobserve(e.target);
        load(e.target.dataset.tag);
      }
    },
    { rootMargin: '200px' },
  );
  ctx.signal.addEventListener('abort', () => observer.disconnect());

  function load(tag) {
    const known = state.details.get(tag);
    if (known) return Promise.resolve(known);
    const p = limit(() => (ctx.signal.aborted ? null : tagDetails(ctx.registry, name, tag, { signal: ctx.signal }))).then(
      (d) => {
        if (!d) return null;
        state.details.set(tag, d);
        fill(tag);
        return d;
      },
      (err) => {
        if (isAbort(err)) return null;
        state.details.set(tag, err);
        fill(tag);
        return err;
      },
    );
    state.details.set(tag, p);
    return p;
  }

  function fill(tag) {
    const c = cells.get(tag);
    const d = state.details.get(tag);
    if (!c || !d || d instanceof Promise) return;
    if (d instanceof Error) {
      c.type.textContent = describe(d).title;
      c.type.className = 'error-text';
      return;
    }
    c.type.textContent = d.kind === 'index' ? `${d.kindLabel} · ${plural(d.platforms.length, 'platform')}` : d.kind === 'artifact' ? `Artifact · ${d.artifactType}` : d.kindLabel;
    c.type.title = d.mediaType;
    c.size.textContent = formatBytes(d.size);
    c.created.replaceChildren(d.created ? h('time', { datetime: d.created, title: relativeTime(d.created, Date.now()) }, formatDate(d.created)) : '—');
    c.digest.replaceChildren(h('code', { title: d.digest }, shortDigest(d.digest)), copyButton(d.digest, `Copy digest of ${tag}`));
  }

  const sortHeader = (key, label, cls = '') => {
    const active = state.sort.key === key;
    const ariaSort = active ? (state.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none';
    return h(
      'th',
      { scope: 'col', 'aria-sort': ariaSort, class: cls },
      h(
        'button',
        {
          type: 'button',
          class: 'sort',
          'data-sort': key,
          onclick: () => setSort(key),
        },
        label,
        h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (state.sort.dir === 'asc' ? '▲' : '▼') : ''),
      ),
    );
  };

  async function setSort(key) {
    const dir = state.sort.key === key && state.sort.dir === 'desc' ? 'asc' : 'desc';
    state.sort = { key, dir };
    if (key !== 'tag') {
      const missing = state.tags.filter((t) => !state.details.has(t) || state.details.get(t) instanceof Promise);
      if (missing.length) {
        status.textContent = `Loading details of ${plural(missing.length, 'tag')} to sort…`;
        await Promise.all(state.tags.map(load));
        if (ctx.signal.aborted) return;
      }
    }
    render();
    const btn = body.querySelector(`button[data-sort="${key}"]`);
    if (btn) btn.focus();
  }

  function rowsInOrder() {
    const f = state.filter.trim().toLowerCase();
    const rows = state.tags
      .filter((t) => !f || t.toLowerCase().includes(f))
      .map((tag) => {
        const d = state.details.get(tag);
        const ok = d && !(d instanceof Promise) && !(d instanceof Error);
        return { tag, size: ok ? d.size : undefined, created: ok ? d.created : undefined };
      });
    return sortRows(rows, state.sort.key, state.sort.dir).map((r) => r.tag);
  }

  function updateSelectionUI() {
    const all = body.querySelector('#select-all');
    if (all) {
      const s = sel.state(state.selected, state.order);
      all.checked = s === 'all';
      all.indeterminate = s === 'some';
    }
    for (const box of body.querySelectorAll('input[data-select]')) box.checked = state.selected.has(box.dataset.select);
    const n = state.selected.size;
    deleteBtn.disabled = n === 0;
    deleteBtn.lastChild.textContent = n ? `Delete ${plural(n, 'tag')}` : 'Delete';
  }

  function render() {
    cells.clear();
    observer.disconnect();
    if (state.tags.length === 0) {
      clear(body).append(h('div', { class: 'empty' }, h('h2', {}, 'No tags'), h('p', {}, 'This repository has no tagged manifests.')));
      status.textContent = '';
      return;
    }
    state.order = rowsInOrder();
    // Selections hidden by the filter are dropped so a delete only touches visible rows.
    for (const t of [...state.selected]) if (!state.order.includes(t)) state.selected.delete(t);
    status.textContent = state.filter ? `${plural(state.order.length, 'tag')} of ${state.tags.length.toLocaleString('en-US')} match “${state.filter}”.` : `${plural(state.tags.length, 'tag')}.`;
    const host = pullHost(ctx);
    const rows = state.order.map((tag) => {
      const c = {
        type: h('td', { class: 'muted' }, '…'),
        size: h('td', { class: 'num' }, '…'),
        created: h('td', { class: 'nowrap' }, '…'),
        digest: h('td', { class: ['digest', state.digests ? '' : 'hidden'] }, '…'),
      };
      cells.set(tag, c);
      const box = canDelete
        ? h('td', { class: 'select' }, h('input', { type: 'checkbox', 'data-select': tag, 'aria-label': `Select ${tag}`, checked: state.selected.has(tag) }))
        : null;
      const tr = h(
        'tr',
        { dataset: { tag } },
        box,
        h('th', { scope: 'row' }, link(pathFor({ view: 'manifest', name, tag }), tag, { class: 'tag' })),
        c.type,
        c.size,
        c.created,
        c.digest,
        h('td', { class: 'actions-cell' }, copyButton(pullCommand(host, name, tag), `Copy pull command for ${name}:${tag}`)),
      );
      fill(tag);
      if (!state.details.has(tag)) observer.observe(tr);
      return tr;
    });
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
          canDelete ? h('th', { scope: 'col', class: 'select' }, h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select all tags' })) : null,
          sortHeader('tag', 'Tag'),
          h('th', { scope: 'col' }, 'Type'),
          sortHeader('size', 'Size', 'num'),
          sortHeader('created', 'Created'),
          h('th', { scope: 'col', class: ['digest', state.digests ? '' : 'hidden'] }, 'Digest'),
          h('th', { scope: 'col' }, h('span', { class: 'offscreen' }, 'Pull command')),
        ),
      ),
      h('tbody', {}, rows),
    );
    clear(body).append(h('div', { class: 'table-wrap' }, table));
    updateSelectionUI();
    if (rows.length) markRows('rs:tag-rows');
  }

  // One listener for all checkboxes: click carries shiftKey, change does not.
  body.addEventListener('click', (e) => {
    const box = e.target.closest('input[type=checkbox]');
    if (!box) return;
    if (box.id === 'select-all') {
      state.selected = sel.selectAll(state.selected, state.order);
      state.anchor = null;
    } else if (box.dataset.select) {
      const r = sel.toggle(state.selected, state.order, box.dataset.select, { shift: e.shiftKey, anchor: state.anchor, checked: box.checked });
      state.selected = r.selected;
      state.anchor = r.anchor;
    }
    updateSelectionUI();
  });

  deleteBtn.addEventListener('click', async () => {
    const tags = state.order.filter((t) => state.selected.has(t));
    if (tags.length === 0) return;
    deleteBtn.disabled = true;
    status.textContent = 'Resolving digests…';
    let digests;
    try {
      digests = await Promise.all(tags.map((t) => limit(() => ctx.registry.digestOf(name, t, { signal: ctx.signal }))));
    } catch (err) {
      if (isAbort(err) || ctx.handleAuth(err)) return;
      status.textContent = `Cannot delete: ${describe(err).title}.`;
      updateSelectionUI();
      return;
    }
    const chosen = new Set(digests);
    const alsoGone = [];
    for (const [t, d] of state.details) {
      if (d && d.digest && chosen.has(d.digest) && !tags.includes(t)) alsoGone.push(t);
    }
    const shown = tags.slice(0, 12);
    const ok = await confirm({
      title: `Delete ${plural(tags.length, 'tag')} from ${name}?`,
      confirmLabel: `Delete ${plural(tags.length, 'tag')}`,
      body: [
        h('ul', { class: 'taglist' }, shown.map((t) => h('li', {}, h('code', {}, t))), tags.length > shown.length ? h('li', {}, `and ${tags.length - shown.length} more`) : null),
        h('p', {}, 'The manifests are deleted by digest; this cannot be undone.'),
        alsoGone.length ? h('p', { class: 'warning' }, `These tags point to the same manifests and disappear too: ${alsoGone.join(', ')}.`) : null,
      ],
    });
    status.textContent = '';
    if (!ok) {
      updateSelectionUI();
      return;
    }
    const failures = [];
    for (const d of chosen) {
      try {
        await ctx.registry.deleteManifest(name, d);
      } catch (err) {
        failures.push(err);
      }
    }
    state.selected.clear();
    state.anchor = null;
    if (failures.length) {
      const p = describe(failures[0]);
      ctx.flash(`${p.title}: ${failures.length} of ${chosen.size} deletions failed. ${p.message}`, 'error');
    } else {
      ctx.flash(`Deleted ${plural(tags.length, 'tag')} from ${name}.`, 'ok');
      announce(`Deleted ${plural(tags.length, 'tag')}`);
    }
    for (const t of [...tags, ...alsoGone]) state.details.delete(t);
    await loadTags();
  });

  filter.addEventListener('input', () => {
    state.filter = filter.value;
    history.replaceState(history.state, '', pathFor({ view: 'repository', name, q: state.filter }));
    render();
  });
  filter.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && filter.value) {
      filter.value = '';
      filter.dispatchEvent(new Event('input'));
    }
  });
  digestsBox.addEventListener('change', () => {
    state.digests = digestsBox.checked;
    try {
      localStorage.setItem(DIGESTS_KEY, state.digests ? 'on' : 'off');
    } catch {
      // preference not kept
    }
    for (const el of body.querySelectorAll('.digest')) el.classList.toggle('hidden', !state.digests);
  });

  async function loadTags() {
    try {
      state.tags = await ctx.registry.allTags(name, {
        signal: ctx.signal,
        onPage: (n) => {
          status.textContent = `Loading tags… ${n.toLocaleString('en-US')} so far`;
        },
      });
      render();
    } catch (err) {
      if (isAbort(err) || ctx.handleAuth(err)) return;
      clear(body).append(problem(ctx, err, `repository ${name}`));
      status.textContent = '';
    }
  }
  loadTags();
}
