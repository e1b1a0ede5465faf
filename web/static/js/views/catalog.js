// The catalog: repositories page by page through the registry's n/last
// pagination, a filter box, and optional tag counts.

import { announce, clear, h, link } from '../dom.js';
import { isAbort } from '../lib/apierror.js';
import { matching } from '../lib/filter.js';
import { plural } from '../lib/format.js';
import { limiter } from '../lib/pool.js';
import { pathFor } from '../lib/route.js';
import { prefs } from '../storage.js';
import { loading, markRows, problem, pullHost } from './common.js';
import { filterBox, prefSwitch } from './toolbar.js';

const PAGE = 100;
const COUNTS_KEY = 'registry-stack.tagCounts';

export function catalogView(ctx, route) {
  const state = { repos: [], next: null, filter: route.q || '', counts: prefs.flag(COUNTS_KEY), loading: false };
  const tagCounts = new Map(); // name -> number | Promise
  const limit = limiter(4);

  const status = h('p', { id: 'catalog-status', class: 'muted', role: 'status' });
  const body = h('div', { class: 'list' }, loading('Loading repositories…'));
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more');

  ctx.main.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', { tabindex: '-1' }, 'Repositories'),
      h(
        'div',
        { class: 'toolbar' },
        filterBox({
          what: 'repositories',
          value: state.filter,
          describedBy: 'catalog-status',
          url: (q) => pathFor({ view: 'catalog', q }),
          onChange: (q) => {
            state.filter = q;
            render();
          },
        }),
        prefSwitch({
          id: 'tag-counts',
          key: COUNTS_KEY,
          label: 'Tag counts',
          onChange: (on) => {
            state.counts = on;
            render();
          },
        }),
      ),
    ),
    status,
    body,
    h('div', { class: 'more' }, more),
  );
  ctx.setTitle('Repositories');

  const countCell = (name) => {
    const cell = h('td', { class: 'num' });
    const show = (v) => {
      cell.textContent = typeof v === 'number' ? v.toLocaleString('en-US') : v;
    };
    const known = tagCounts.get(name);
    if (typeof known === 'number') {
      show(known);
      return cell;
    }
    show('…');
    if (!known) {
      tagCounts.set(
        name,
        limit(() => (ctx.signal.aborted ? 0 : ctx.registry.allTags(name, { signal: ctx.signal }).then((t) => t.length))).then(
          (n) => {
            tagCounts.set(name, n);
            return n;
          },
          (err) => {
            tagCounts.delete(name);
            if (!isAbort(err)) throw err;
            return '?';
          },
        ),
      );
    }
    tagCounts.get(name).then(show, () => show('?'));
    return cell;
  };

  const render = () => {
    const rows = matching(state.repos, state.filter);
    const moreHint = state.next ? ' More are available: load more to search them too.' : '';
    if (state.repos.length === 0) {
      clear(body).append(
        h(
          'div',
          { class: 'empty' },
          h('h2', {}, 'No repositories yet'),
          h('p', {}, 'Push an image to see it here:'),
          h('pre', {}, h('code', {}, `docker tag alpine ${pullHost(ctx)}/team/alpine\ndocker push ${pullHost(ctx)}/team/alpine`)),
        ),
      );
      status.textContent = '';
      return;
    }
    status.textContent = state.filter
      ? `${plural(rows.length, 'repository', 'repositories')} match “${state.filter}” among ${state.repos.length.toLocaleString('en-US')} loaded.${moreHint}`
      : `${plural(state.repos.length, 'repository', 'repositories')} loaded${state.next ? ', more available' : ''}.`;
    const table = h(
      'table',
      { class: 'data catalog' },
      h('caption', { class: 'offscreen' }, 'Repositories'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Repository'), state.counts ? h('th', { scope: 'col', class: 'num' }, 'Tags') : null)),
      h(
        'tbody',
        {},
        rows.map((name) => h('tr', {}, h('td', {}, link(pathFor({ view: 'repository', name }), name, { class: 'repo' })), state.counts ? countCell(name) : null)),
      ),
    );
    clear(body).append(h('div', { class: 'table-wrap' }, table));
    if (rows.length === 0) body.append(h('p', { class: 'empty' }, 'No loaded repository matches the filter.'));
    else markRows('rs:catalog-rows');
    more.hidden = !state.next;
  };

  const loadPage = async () => {
    if (state.loading) return;
    state.loading = true;
    more.disabled = true;
    try {
      const page = await ctx.registry.catalogPage({ n: PAGE, last: state.next || '', signal: ctx.signal });
      state.repos.push(...page.repositories);
      state.next = page.next;
      render();
      if (state.repos.length > PAGE) announce(`${plural(state.repos.length, 'repository', 'repositories')} loaded`);
    } catch (err) {
      if (isAbort(err)) return;
      if (ctx.handleAuth(err)) return;
      clear(body).append(problem(ctx, err, 'repository list'));
    } finally {
      state.loading = false;
      more.disabled = false;
    }
  };

  more.addEventListener('click', loadPage);
  loadPage();
}
