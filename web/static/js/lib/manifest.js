// Manifest media types and their parsing: Docker and OCI images, indexes
// (multi-arch), and OCI artifacts. Pure: no DOM.

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
};

/** ACCEPT lists every manifest type the UI can show, for the Accept header. */
export const ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(', ');

const INDEX_TYPES = new Set([MT.ociIndex, MT.dockerList]);
const IMAGE_CONFIG_TYPES = new Set([MT.ociConfig, MT.dockerConfig]);

const KIND_LABELS = {
  index: 'Multi-platform index',
  image: 'Image',
  artifact: 'Artifact',
  unknown: 'Manifest',
};

/** mediaTypeOf prefers the header (what the registry stored), then the body's field. */
export function mediaTypeOf(headerType, body) {
  const h = (headerType || '').split(';')[0].trim();
  if (h && h !== 'application/json' && h !== 'application/octet-stream') return h;
  if (body && body.mediaType) return body.mediaType;
  if (body && Array.isArray(body.manifests)) return MT.ociIndex;
  if (body && body.config) return MT.ociManifest;
  return h;
}

/** kindOf classifies a manifest: 'index', 'image', 'artifact' or 'unknown'. */
export function kindOf(mediaType, body) {
  if (INDEX_TYPES.has(mediaType) || (body && Array.isArray(body.manifests))) return 'index';
  if (!body || typeof body !== 'object' || !body.config && !Array.isArray(body.layers)) return 'unknown';
  if (body.artifactType) return 'artifact';
  const cfgType = body.config && body.config.mediaType;
  if (!cfgType || IMAGE_CONFIG_TYPES.has(cfgType)) return 'image';
  return 'artifact';
}

export const kindLabel = (kind) => KIND_LABELS[kind] || KIND_LABELS.unknown;

/** platformString writes os/arch/variant (and os.version) the way docker does. */
export function platformString(p) {
  if (!p) return 'unknown';
  const parts = [p.os || 'unknown', p.architecture || 'unknown'];
  if (p.variant) parts.push(p.variant);
  let s = parts.join('/');
  if (p['os.version']) s += ` (${p['os.version']})`;
  return s;
}

const sizeOf = (d) => (d && typeof d.size === 'number' ? d.size : 0);

/** isAttestation tells buildx's attestation manifests from real platforms. */
export function isAttestation(desc) {
  const a = (desc && desc.annotations) || {};
  return a['vnd.docker.reference.type'] === 'attestation-manifest';
}

/**
 * summarize extracts what the UI shows from a parsed manifest: kind, media
 * and artifact types, platforms (index), config and layers (image or
 * artifact), total size, subject and annotations.
 */
export function summarize({ body, mediaType, digest, size }) {
  const mt = mediaTypeOf(mediaType, body);
  const kind = kindOf(mt, body);
  const s = {
    kind,
    kindLabel: kindLabel(kind),
    mediaType: mt,
    artifactType: (body && body.artifactType) || '',
    digest: digest || '',
    manifestSize: typeof size === 'number' ? size : 0,
    annotations: entries((body && body.annotations) || {}),
    subject: (body && body.subject) || null,
    platforms: [],
    config: null,
    layers: [],
    totalSize: 0,
  };
  if (kind === 'index') {
    s.platforms = body.manifests.map((m) => ({
      digest: m.digest,
      mediaType: m.mediaType || '',
      size: sizeOf(m),
      platform: platformString(m.platform),
      attestation: isAttestation(m),
      artifactType: m.artifactType || '',
      annotations: entries(m.annotations || {}),
    }));
    s.totalSize = s.manifestSize + s.platforms.reduce((t, p) => t + p.size, 0);
    return s;
  }
  if (kind === 'unknown') return s;
  s.config = body.config ? { digest: body.config.digest, mediaType: body.config.mediaType || '', size: sizeOf(body.config) } : null;
  if (kind === 'artifact' && !s.artifactType && s.config) s.artifactType = s.config.mediaType;
  s.layers = (body.layers || []).map((l) => ({
    digest: l.digest,
    mediaType: l.mediaType || '',
    size: sizeOf(l),
    title: (l.annotations && l.annotations['org.opencontainers.image.title']) || '',
  }));
  s.totalSize = sizeOf(body.config) + s.layers.reduce((t, l) => t + l.size, 0);
  return s;
}

/** created is the creation time recorded in annotations, if any (artifacts have no config with one). */
export function annotatedCreated(body) {
  const a = (body && body.annotations) || {};
  return a['org.opencontainers.image.created'] || '';
}

function entries(obj) {
  return Object.keys(obj)
    .sort()
    .map((k) => ({ key: k, value: String(obj[k]) }));
}

/** layerTypeLabel shortens well-known layer media types for tables. */
export function layerTypeLabel(mt) {
  const known = {
    'application/vnd.oci.image.layer.v1.tar+gzip': 'tar+gzip (OCI)',
    'application/vnd.oci.image.layer.v1.tar+zstd': 'tar+zstd (OCI)',
    'application/vnd.oci.image.layer.v1.tar': 'tar (OCI)',
    'application/vnd.docker.image.rootfs.diff.tar.gzip': 'tar+gzip (Docker)',
    'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'foreign tar+gzip (Docker)',
  };
  return known[mt] || mt || 'unknown';
}
