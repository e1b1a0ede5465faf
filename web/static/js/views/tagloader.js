// What the tag table loads: the tag list, page by page, and each tag's
// details (kind, size, created, digest) only when its row comes near the
// screen or a sort or a delete needs them, a few requests at a time, so a
// repository with thousands of tags does not flood the registry.

import { tagDetails } from '../details.js';
import { isAbort } from '../lib/apierror.js';
import { limiter } from '../lib/pool.js';
import { alsoDeleted } from '../lib/tags.js';

/** tagLoader loads for repository name; onDetails(tag) runs when a tag's details (or their error) arrive. */
export function tagLoader(ctx, name, { onDetails }) {
  const known = new Map(); // tag -> details | Promise | Error
  const limit = limiter(6);
  const opts = { signal: ctx.signal };

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
    const k = known.get(tag);
    if (k) return Promise.resolve(k);
    const settle = (d) => {
      known.set(tag, d);
      onDetails(tag);
      return d;
    };
    const p = limit(() => (ctx.signal.aborted ? null : tagDetails(ctx.registry, name, tag, opts))).then(
      (d) => (d ? settle(d) : null),
      (err) => (isAbort(err) ? null : settle(err)),
    );
    known.set(tag, p);
    return p;
  }

  return {
    /** tags lists every tag; onPage(n) sees the count so far. */
    tags: (onPage) => ctx.registry.allTags(name, { ...opts, onPage }),
    /** details is a tag's details or Error once loaded, else undefined. */
    details: (tag) => {
      const k = known.get(tag);
      return k instanceof Promise ? undefined : k;
    },
    /** missing counts the tags whose details are not loaded yet. */
    missing: (tags) => tags.filter((t) => !known.has(t) || known.get(t) instanceof Promise).length,
    loadAll: (tags) => Promise.all(tags.map(load)),
    /** watch loads a row's details when it comes near the screen. */
    watch: (row) => {
      if (!known.has(row.dataset.tag)) observer.observe(row);
    },
    unwatchAll: () => observer.disconnect(),
    /** digests resolves each tag to the digest a delete would remove. */
    digests: (tags) => Promise.all(tags.map((t) => limit(() => ctx.registry.digestOf(name, t, opts)))),
    /** sharing lists the other tags known to point at one of digests. */
    sharing: (tags, digests) => alsoDeleted(known, tags, digests),
    forget: (tags) => tags.forEach((t) => known.delete(t)),
  };
}
