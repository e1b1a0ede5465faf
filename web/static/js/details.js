// Loading what the tag table and the details page show about one tag or
// digest: manifest summary, size, creation time, platforms. No DOM.

import { parseConfig } from './lib/imageconfig.js';
import { annotatedCreated, summarize } from './lib/manifest.js';

/**
 * tagDetails returns {digest, kind, kindLabel, mediaType, artifactType,
 * size, created, platforms} for one reference. For an index, size is the
 * sum over its platform images and created the newest platform's.
 */
export async function tagDetails(registry, name, ref, { signal } = {}) {
  const m = await registry.manifest(name, ref, { signal });
  const s = summarize(m);
  const out = {
    digest: s.digest,
    kind: s.kind,
    kindLabel: s.kindLabel,
    mediaType: s.mediaType,
    artifactType: s.artifactType,
    size: s.totalSize,
    created: annotatedCreated(m.body),
    platforms: s.platforms.filter((p) => !p.attestation).map((p) => p.platform),
  };
  if (s.kind === 'image' && s.config) {
    out.created = (await imageCreated(registry, name, s.config.digest, signal)) || out.created;
  } else if (s.kind === 'index') {
    const children = await Promise.all(
      s.platforms
        .filter((p) => !p.attestation)
        .map(async (p) => {
          const child = summarize(await registry.manifest(name, p.digest, { signal }));
          const created = child.kind === 'image' && child.config ? await imageCreated(registry, name, child.config.digest, signal) : '';
          return { size: child.totalSize, created };
        }),
    );
    out.size = children.reduce((t, c) => t + c.size, 0);
    out.created = children
        .map((c) => c.created)
        .filter(Boolean)
        .sort((a, b) => Date.parse(a) - Date.parse(b))
        .pop() || out.created;
  }
  return out;
}

async function imageCreated(registry, name, digest, signal) {
  const cfg = await registry.blobJSON(name, digest, { signal });
  return parseConfig(cfg).created;
}
