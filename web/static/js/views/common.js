// Building blocks shared by the views: breadcrumbs, copyable commands,
// problem panels, the confirmation dialog, dates.

import { copyText } from '../clipboard.js';
import { h, icon, link } from '../dom.js';
import { formatDate, relativeTime } from '../lib/format.js';
import { describe } from '../lib/problem.js';
import { pathFor } from '../lib/route.js';

/** breadcrumb links each path component of a repository name. */
export function breadcrumb(name, last) {
  const items = [h('li', {}, link('/', 'Repositories'))];
  if (name) {
    items.push(h('li', {}, last ? link(pathFor({ view: 'repository', name }), name) : h('span', { 'aria-current': 'page' }, name)));
  }
  if (last) items.push(h('li', {}, h('span', { 'aria-current': 'page' }, last)));
  return h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('ol', {}, items));
}

/** copyButton copies text; label says what for screen readers. */
export function copyButton(text, label) {
  return h(
    'button',
    {
      type: 'button',
      class: 'btn btn-icon',
      'aria-label': label,
      title: label,
      onclick: async (e) => {
        const btn = e.currentTarget;
        if (await copyText(text)) {
          btn.classList.add('copied');
          setTimeout(() => btn.classList.remove('copied'), 1500);
        }
      },
    },
    icon('copy'),
  );
}

/** command shows a shell command with a copy button. */
export function command(text, label = 'Copy pull command') {
  return h('div', { class: 'command' }, h('code', {}, text), copyButton(text, label));
}

/** problem renders an error with what the user can do about it. */
export function problem(ctx, err, what) {
  const p = describe(err, what);
  const actions = [];
  if (p.action === 'retry') {
    actions.push(h('button', { type: 'button', class: 'btn', onclick: () => ctx.rerender() }, 'Retry'));
  }
  if (p.action === 'signin' && ctx.config.authMode !== 'none') {
    actions.push(h('button', { type: 'button', class: 'btn btn-primary', onclick: () => ctx.signOut() }, 'Sign in again'));
  }
  if (p.action === 'catalog' || p.action === 'retry') {
    actions.push(link('/', 'Back to repositories', { class: 'btn btn-link' }));
  }
  return h(
    'section',
    { class: `problem problem-${p.kind}`, role: 'alert', 'data-problem': p.kind },
    h('h2', {}, p.title),
    h('p', {}, p.message),
    err && err.message && p.kind !== 'server' && p.kind !== 'unknown' && err.message !== err.kind ? h('p', { class: 'muted small' }, `Details: ${err.message}`) : null,
    actions.length ? h('div', { class: 'actions' }, actions) : null,
  );
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

/**
 * confirm asks a yes/no question in a modal dialog (focus stays inside,
 * Escape cancels) and resolves to true when the user confirms.
 */
export function confirm({ title, body, confirmLabel, danger = true }) {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'btn', value: 'cancel' }, 'Cancel');
    const ok = h('button', { type: 'button', class: danger ? 'btn btn-danger' : 'btn btn-primary', value: 'ok', 'data-confirm': true }, confirmLabel);
    const dlg = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': 'dialog-title' },
      h('h2', { id: 'dialog-title' }, title),
      h('div', { class: 'dialog-body' }, body),
      h('div', { class: 'actions' }, cancel, ok),
    );
    const done = (v) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    cancel.addEventListener('click', () => done(false));
    ok.addEventListener('click', () => done(true));
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus(); // the safe choice has the focus
  });
}

/** dl renders label/value pairs, skipping empty values. */
export function dl(pairs, cls = 'props') {
  const items = [];
  for (const [label, value] of pairs) {
    if (value === '' || value === null || value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    items.push(h('div', {}, h('dt', {}, label), h('dd', {}, value)));
  }
  return h('dl', { class: cls }, items);
}

/** table renders a simple read-only table with a caption for screen readers. */
export function table(caption, headers, rows, cls = '') {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: ['data', cls] },
      h('caption', { class: 'offscreen' }, caption),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))),
    ),
  );
}

/** dateTime shows an RFC 3339 time in UTC, with how long ago as a tooltip. */
export function dateTime(value) {
  return h('time', { datetime: value, title: relativeTime(value, Date.now()) }, formatDate(value));
}

/**
 * mayDelete resolves to whether to offer deleting name's manifests: only
 * when the registry allows deletes and the user's delete token does not
 * deny it (a token that does not say leaves the decision to the registry).
 */
export async function mayDelete(ctx, name) {
  if (!ctx.config.deleteEnabled) return false;
  return (await ctx.registry.deleteGrant(name)) !== false;
}

export function pullHost(ctx) {
  return ctx.config.pullHost || location.host;
}

/** markRows records when a list first shows rows, for performance figures. */
export function markRows(name) {
  try {
    if (performance.getEntriesByName(name, 'mark').length === 0) performance.mark(name);
  } catch {
    // performance marks are diagnostics only
  }
}
