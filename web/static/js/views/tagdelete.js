// Selecting tags and deleting them: checkboxes, shift-click ranges and
// select-all, then a confirmation that names every tag, and the tags that
// share a digest with them (manifests are deleted by digest, so those go
// too), before anything is deleted.

import { announce, h, icon } from '../dom.js';
import { isAbort } from '../lib/apierror.js';
import { plural } from '../lib/format.js';
import { describe } from '../lib/problem.js';
import * as sel from '../lib/selection.js';
import { confirm } from './common.js';

const LISTED = 12; // tags named in the confirmation before "and N more"

/**
 * tagDeletion deletes name's tags. It makes the toolbar's delete button
 * and the table's checkboxes; the table calls attach(its element) once and
 * shown(order) after each render. reload() loads the tags again after a
 * delete.
 */
export function tagDeletion(ctx, { name, loader, status, reload }) {
  let selected = new Set();
  let anchor = null;
  let order = []; // the tags on screen, in display order
  let table = null; // the element holding the checkboxes

  const button = h('button', { type: 'button', class: 'btn btn-danger', disabled: true, 'data-delete-selected': true }, icon('trash'), h('span', {}, 'Delete'));

  function update() {
    const all = table.querySelector('#select-all');
    if (all) {
      const s = sel.state(selected, order);
      all.checked = s === 'all';
      all.indeterminate = s === 'some';
    }
    for (const box of table.querySelectorAll('input[data-select]')) box.checked = selected.has(box.dataset.select);
    const n = selected.size;
    button.disabled = n === 0;
    button.lastChild.textContent = n ? `Delete ${plural(n, 'tag')}` : 'Delete';
  }

  // One listener for all checkboxes: click carries shiftKey, change does not.
  function onClick(e) {
    const box = e.target.closest('input[type=checkbox]');
    if (!box) return;
    if (box.id === 'select-all') {
      selected = sel.selectAll(selected, order);
      anchor = null;
    } else if (box.dataset.select) {
      ({ selected, anchor } = sel.toggle(selected, order, box.dataset.select, { shift: e.shiftKey, anchor, checked: box.checked }));
    }
    update();
  }

  async function confirmAndDelete() {
    const tags = order.filter((t) => selected.has(t));
    if (tags.length === 0) return;
    button.disabled = true;
    status.textContent = 'Resolving digests…';
    let digests;
    try {
      digests = new Set(await loader.digests(tags));
    } catch (err) {
      if (isAbort(err) || ctx.handleAuth(err)) return;
      status.textContent = `Cannot delete: ${describe(err).title}.`;
      update();
      return;
    }
    const alsoGone = loader.sharing(tags, digests);
    const ok = await confirm({
      title: `Delete ${plural(tags.length, 'tag')} from ${name}?`,
      confirmLabel: `Delete ${plural(tags.length, 'tag')}`,
      body: [
        h(
          'ul',
          { class: 'taglist' },
          tags.slice(0, LISTED).map((t) => h('li', {}, h('code', {}, t))),
          tags.length > LISTED ? h('li', {}, `and ${tags.length - LISTED} more`) : null,
        ),
        h('p', {}, 'The manifests are deleted by digest; this cannot be undone.'),
        alsoGone.length ? h('p', { class: 'warning' }, `These tags point to the same manifests and disappear too: ${alsoGone.join(', ')}.`) : null,
      ],
    });
    status.textContent = '';
    if (!ok) {
      update();
      return;
    }
    const failures = [];
    for (const d of digests) {
      try {
        await ctx.registry.deleteManifest(name, d);
      } catch (err) {
        failures.push(err);
      }
    }
    selected = new Set();
    anchor = null;
    if (failures.length) {
      const p = describe(failures[0]);
      ctx.flash(`${p.title}: ${failures.length} of ${digests.size} deletions failed. ${p.message}`, 'error');
    } else {
      ctx.flash(`Deleted ${plural(tags.length, 'tag')} from ${name}.`, 'ok');
      announce(`Deleted ${plural(tags.length, 'tag')}`);
    }
    loader.forget([...tags, ...alsoGone]);
    await reload();
  }
  button.addEventListener('click', confirmAndDelete);

  return {
    button,
    headCell: () => h('th', { scope: 'col', class: 'select' }, h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select all tags' })),
    rowCell: (tag) => h('td', { class: 'select' }, h('input', { type: 'checkbox', 'data-select': tag, 'aria-label': `Select ${tag}`, checked: selected.has(tag) })),
    attach(element) {
      table = element;
      table.addEventListener('click', onClick);
    },
    /** shown hears that the table now shows rows, in this order; selections hidden by a filter are dropped. */
    shown(rows) {
      order = rows;
      selected = sel.keepShown(selected, order);
      update();
    },
  };
}
