// Cosign's fallback tags: on a registry without the referrers API cosign
// stores the signature, attestation and SBOM of the manifest
// sha256:<hex> under the tags sha256-<hex>.sig, .att and .sbom. The tag
// list groups them under the image they belong to. Pure: no DOM.

const FALLBACK = /^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})\.(sig|att|sbom)$/;

const KINDS = {
  sig: ['signature', 'signatures'],
  att: ['attestation', 'attestations'],
  sbom: ['SBOM', 'SBOMs'],
};

/** cosignTag parses a fallback tag: {digest, kind: 'sig' | 'att' | 'sbom'}, or null for any other tag. */
export function cosignTag(tag) {
  const m = FALLBACK.exec(String(tag));
  if (!m) return null;
  const hexLen = m[1] === 'sha256' ? 64 : 128;
  if (m[2].length !== hexLen) return null;
  return { digest: `${m[1]}:${m[2]}`, kind: m[3] };
}

/** fallbackTags lists the tags cosign would use for digest, in the order sig, att, sbom. */
export function fallbackTags(digest) {
  const [alg, hex] = String(digest || '').split(':');
  if (!alg || !hex) return [];
  return Object.keys(KINDS).map((kind) => `${alg}-${hex}.${kind}`);
}

/**
 * groupTags splits a tag list into the tags shown as rows (plain) and the
 * fallback tags, grouped by the digest they belong to (attached: Map
 * digest -> [{tag, kind}], kinds in sig, att, sbom order).
 */
export function groupTags(tags) {
  const plain = [];
  const attached = new Map();
  const order = Object.keys(KINDS);
  for (const tag of tags) {
    const c = cosignTag(tag);
    if (!c) {
      plain.push(tag);
      continue;
    }
    if (!attached.has(c.digest)) attached.set(c.digest, []);
    attached.get(c.digest).push({ tag, kind: c.kind });
  }
  for (const list of attached.values()) list.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  return { plain, attached, hidden: tags.length - plain.length };
}

/** kindName names one kind of fallback tag: 'signature', 'attestation' or 'SBOM'. */
export function kindName(kind) {
  return KINDS[kind] ? KINDS[kind][0] : String(kind);
}

/** attachedText says what a group holds: "1 signature, 1 attestation". */
export function attachedText(list) {
  const counts = new Map();
  for (const { kind } of list) counts.set(kind, (counts.get(kind) || 0) + 1);
  return Object.keys(KINDS)
    .filter((k) => counts.has(k))
    .map((k) => `${counts.get(k)} ${KINDS[k][counts.get(k) === 1 ? 0 : 1]}`)
    .join(', ');
}
