// One repository's tags. This view puts the page together; the work is
// done by the tag table (rendering, sorting), the tag loader (tag list,
// lazily loaded details) and, when deleting is on and the user's token
// grants it, the tag deletion (selection, confirmation, delete).

import { clear, h } from '../dom.js';
import { isAbort } from '../lib/apierror.js';
import { pathFor } from '../lib/route.js';
import { prefs } from '../storage.js';
import { breadcrumb, mayDelete, problem } from './common.js';
import { tagDeletion } from './tagdelete.js';
import { tagLoader } from './tagloader.js';
import { tagTable } from './tagtable.js';
import { filterBox, prefSwitch } from './toolbar.js';

const DIGESTS_KEY = 'registry-stack.showDigests';
const FALLBACK_KEY = 'registry-stack.showSignatureTags';

export function repositoryView(ctx, route) {
  const { name } = route;
  const status = h('p', { class: 'muted', role: 'status', id: 'tags-status' });
  const loader = tagLoader(ctx, name, { onDetails: (tag) => table.fill(tag) });
  const table = tagTable(ctx, { name, loader, selection: null, status, filter: route.q || '', digests: prefs.flag(DIGESTS_KEY), fallback: prefs.flag(FALLBACK_KEY) });
  const toolbar = h(
    'div',
    { class: 'toolbar' },
    filterBox({ what: 'tags', value: route.q || '', url: (q) => pathFor({ view: 'repository', name, q }), onChange: table.setFilter }),
    prefSwitch({ id: 'show-digests', key: DIGESTS_KEY, label: 'Digests', onChange: table.showDigests }),
    prefSwitch({ id: 'show-signature-tags', key: FALLBACK_KEY, label: 'Signature tags', onChange: table.showFallback }),
  );
  // Asked in parallel with the tag list; the rows wait for the answer, so
  // the checkbox column never appears under the user's pointer.
  const deletable = mayDelete(ctx, name).then((ok) => {
    if (!ok || ctx.signal.aborted) return;
    const deletion = tagDeletion(ctx, { name, loader, status, reload: loadTags });
    table.setSelection(deletion);
    toolbar.append(deletion.button);
  });

  ctx.main.append(
    breadcrumb(name),
    h(
      'div',
      { class: 'page-head' },
      h('h1', { tabindex: '-1' }, name),
      toolbar,
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
      await deletable;
      table.setTags(tags);
    } catch (err) {
      if (isAbort(err) || ctx.handleAuth(err)) return;
      clear(table.element).append(problem(ctx, err, `repository ${name}`));
      status.textContent = '';
    }
  }
  loadTags();
}
