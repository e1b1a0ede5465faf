// One repository's tags. This view puts the page together; the work is
// done by the tag table (rendering, sorting), the tag loader (tag list,
// lazily loaded details) and, when deleting is on, the tag deletion
// (selection, confirmation, delete).

import { clear, h } from '../dom.js';
import { isAbort } from '../lib/apierror.js';
import { pathFor } from '../lib/route.js';
import { prefs } from '../storage.js';
import { breadcrumb, problem } from './common.js';
import { tagDeletion } from './tagdelete.js';
import { tagLoader } from './tagloader.js';
import { tagTable } from './tagtable.js';
import { filterBox, prefSwitch } from './toolbar.js';

const DIGESTS_KEY = 'registry-stack.showDigests';

export function repositoryView(ctx, route) {
  const { name } = route;
  const status = h('p', { class: 'muted', role: 'status', id: 'tags-status' });
  const loader = tagLoader(ctx, name, { onDetails: (tag) => table.fill(tag) });
  const deletion = ctx.config.deleteEnabled ? tagDeletion(ctx, { name, loader, status, reload: loadTags }) : null;
  const table = tagTable(ctx, { name, loader, selection: deletion, status, filter: route.q || '', digests: prefs.flag(DIGESTS_KEY) });

  ctx.main.append(
    breadcrumb(name),
    h(
      'div',
      { class: 'page-head' },
      h('h1', { tabindex: '-1' }, name),
      h(
        'div',
        { class: 'toolbar' },
        filterBox({ what: 'tags', value: route.q || '', url: (q) => pathFor({ view: 'repository', name, q }), onChange: table.setFilter }),
        prefSwitch({ id: 'show-digests', key: DIGESTS_KEY, label: 'Digests', onChange: table.showDigests }),
        deletion ? deletion.button : null,
      ),
    ),
    status,
    table.element,
  );
  ctx.setTitle(name);

  async function loadTags() {
    try {
      const tags = await loader.tags((n) => {
        status.textContent = `Loading tags… ${n.toLocaleString('en-US')} so far`;
      });
      table.setTags(tags);
    } catch (err) {
      if (isAbort(err) || ctx.handleAuth(err)) return;
      clear(table.element).append(problem(ctx, err, `repository ${name}`));
      status.textContent = '';
    }
  }
  loadTags();
}
