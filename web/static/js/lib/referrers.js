// What the referrers panel shows of each referrer (signatures, SBOMs,
// attestations): a friendly label for well-known artifact types, its
// creation time from the annotation tools set, its annotations; and the
// next page of a referrers listing from its Link header. Pure: no DOM.

import { parseLinks } from './link.js';

export const CREATED = 'org.opencontainers.image.created';

// Exact artifact (or config media) types of well-known tools.
const KNOWN = {
  'application/vnd.dev.cosign.artifact.sig.v1+json': ['Cosign signature', 'signature'],
  'application/vnd.dev.cosign.simplesigning.v1+json': ['Cosign signature', 'signature'],
  'application/vnd.dev.sigstore.bundle.v0.3+json': ['Sigstore bundle', 'signature'],
  'application/vnd.dev.sigstore.bundle+json;version=0.3': ['Sigstore bundle', 'signature'],
  'application/vnd.cncf.notary.signature': ['Notation signature', 'signature'],
  'application/vnd.dev.cosign.artifact.sbom.v1+json': ['Cosign SBOM', 'sbom'],
  'application/vnd.dsse.envelope.v1+json': ['in-toto attestation (DSSE)', 'attestation'],
  'application/vnd.in-toto+json': ['in-toto attestation', 'attestation'],
  'application/vnd.dev.cosign.artifact.att.v1+json': ['Cosign attestation', 'attestation'],
};

// Families recognised by a word in the type, for the many spellings in use
// (application/spdx+json, text/spdx, application/vnd.cyclonedx+xml, …).
const FAMILIES = [
  [/spdx/i, 'SPDX SBOM', 'sbom'],
  [/cyclonedx/i, 'CycloneDX SBOM', 'sbom'],
  [/in-toto|intoto/i, 'in-toto attestation', 'attestation'],
  [/sigstore|cosign.*sig/i, 'Sigstore signature', 'signature'],
  [/notary|notation/i, 'Notation signature', 'signature'],
];

/**
 * artifactInfo names an artifact type: {label, category} where category is
 * 'signature', 'sbom', 'attestation' or 'other'. Unknown types keep their
 * own name as the label.
 */
export function artifactInfo(type) {
  const t = String(type || '').trim();
  if (!t) return { label: 'Unknown type', category: 'other' };
  const exact = KNOWN[t] || KNOWN[t.toLowerCase()];
  if (exact) return { label: exact[0], category: exact[1] };
  for (const [re, label, category] of FAMILIES) {
    if (re.test(t)) return { label, category };
  }
  return { label: t, category: 'other' };
}

/**
 * describeReferrer turns one descriptor of a referrers listing into what
 * the panel shows: digest, size, artifact type (the manifest's media type
 * when it has none), label and category, created time (annotation, '' when
 * absent) and the annotations sorted by key.
 */
export function describeReferrer(desc) {
  const d = desc && typeof desc === 'object' ? desc : {};
  const annotations = d.annotations && typeof d.annotations === 'object' ? d.annotations : {};
  const artifactType = d.artifactType || '';
  const info = artifactInfo(artifactType || d.mediaType);
  return {
    digest: typeof d.digest === 'string' ? d.digest : '',
    size: typeof d.size === 'number' ? d.size : undefined,
    mediaType: d.mediaType || '',
    artifactType,
    label: info.label,
    category: info.category,
    created: typeof annotations[CREATED] === 'string' ? annotations[CREATED] : '',
    annotations: Object.keys(annotations)
      .sort()
      .map((key) => ({ key, value: String(annotations[key]) })),
  };
}

/**
 * sortReferrers puts the newest first (by created; those without a time
 * last), then by label and digest, so the order is stable across pages.
 */
export function sortReferrers(refs) {
  const time = (r) => {
    const t = r.created ? Date.parse(r.created) : NaN;
    return Number.isNaN(t) ? -Infinity : t;
  };
  return [...refs].sort((a, b) => time(b) - time(a) || a.label.localeCompare(b.label) || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
}

/**
 * nextReferrersPath returns the path (with query) of the next page named by
 * a referrers answer's Link header, or null. Only a same-origin path under
 * the listing's own /v2/<name>/referrers/ is followed: a Link pointing
 * anywhere else is ignored rather than fetched with the user's token.
 */
export function nextReferrersPath(header, currentPath) {
  const next = parseLinks(header).next;
  if (!next) return null;
  const base = new URL(currentPath, 'http://registry.invalid');
  let u;
  try {
    u = new URL(next, base);
  } catch {
    return null;
  }
  if (u.origin !== base.origin || u.pathname !== base.pathname) return null;
  return u.pathname + u.search;
}
