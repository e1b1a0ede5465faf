import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACCEPT, MT, annotatedCreated, kindOf, layerTypeLabel, mediaTypeOf, platformString, summarize } from '../static/js/lib/manifest.js';

const d = (c) => 'sha256:' + c.repeat(64);

const image = {
  schemaVersion: 2,
  mediaType: MT.ociManifest,
  config: { mediaType: MT.ociConfig, digest: d('c'), size: 1000 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('1'), size: 2000 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('2'), size: 3000 },
  ],
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', b: '2', a: '1' },
};

const index = {
  schemaVersion: 2,
  mediaType: MT.ociIndex,
  manifests: [
    { mediaType: MT.ociManifest, digest: d('a'), size: 500, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: MT.ociManifest, digest: d('b'), size: 501, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    {
      mediaType: MT.ociManifest,
      digest: d('e'),
      size: 400,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': d('a') },
    },
  ],
};

const artifact = {
  schemaVersion: 2,
  mediaType: MT.ociManifest,
  artifactType: 'application/spdx+json',
  config: { mediaType: MT.ociEmpty, digest: d('0'), size: 2 },
  layers: [{ mediaType: 'application/spdx+json', digest: d('9'), size: 77, annotations: { 'org.opencontainers.image.title': 'sbom.json' } }],
  subject: { mediaType: MT.ociManifest, digest: d('a'), size: 500 },
};

test('ACCEPT lists OCI and Docker manifests and indexes', () => {
  for (const mt of [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest]) assert.ok(ACCEPT.includes(mt), mt);
});

test('kindOf', async (t) => {
  const cases = [
    [MT.ociManifest, image, 'image'],
    [MT.dockerManifest, { ...image, mediaType: MT.dockerManifest, config: { ...image.config, mediaType: MT.dockerConfig } }, 'image'],
    [MT.ociIndex, index, 'index'],
    [MT.dockerList, { manifests: [] }, 'index'],
    [MT.ociManifest, artifact, 'artifact'],
    [MT.ociManifest, { config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: d('h'), size: 3 }, layers: [] }, 'artifact'],
    ['application/vnd.example+json', { hello: 'world' }, 'unknown'],
  ];
  for (const [mt, body, want] of cases) await t.test(want + ' ' + mt, () => assert.equal(kindOf(mt, body), want));
});

test('mediaTypeOf prefers the header', () => {
  assert.equal(mediaTypeOf(`${MT.dockerManifest}; charset=utf-8`, image), MT.dockerManifest);
  assert.equal(mediaTypeOf('application/json', image), MT.ociManifest);
  assert.equal(mediaTypeOf('', { manifests: [] }), MT.ociIndex);
});

test('summarize an image', () => {
  const s = summarize({ body: image, mediaType: MT.ociManifest, digest: d('f'), size: 600 });
  assert.equal(s.kind, 'image');
  assert.equal(s.totalSize, 6000);
  assert.equal(s.layers.length, 2);
  assert.deepEqual(s.config, { digest: d('c'), mediaType: MT.ociConfig, size: 1000 });
  assert.deepEqual(s.annotations.map((a) => a.key), ['a', 'b', 'org.opencontainers.image.created']);
  assert.equal(annotatedCreated(image), '2024-01-01T00:00:00Z');
});

test('summarize an index with an attestation', () => {
  const s = summarize({ body: index, mediaType: MT.ociIndex, digest: d('9'), size: 900 });
  assert.equal(s.kind, 'index');
  assert.deepEqual(s.platforms.map((p) => p.platform), ['linux/amd64', 'linux/arm64/v8', 'unknown/unknown']);
  assert.deepEqual(s.platforms.map((p) => p.attestation), [false, false, true]);
  assert.equal(s.totalSize, 900 + 500 + 501 + 400);
});

test('summarize an artifact', () => {
  const s = summarize({ body: artifact, mediaType: MT.ociManifest, digest: d('8'), size: 300 });
  assert.equal(s.kind, 'artifact');
  assert.equal(s.artifactType, 'application/spdx+json');
  assert.equal(s.layers[0].title, 'sbom.json');
  assert.equal(s.subject.digest, d('a'));
  const helm = summarize({ body: { config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: d('h'), size: 3 }, layers: [] }, mediaType: MT.ociManifest });
  assert.equal(helm.artifactType, 'application/vnd.cncf.helm.config.v1+json', 'config media type stands in for a missing artifactType');
});

test('platformString and layer labels', () => {
  assert.equal(platformString({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' }), 'windows/amd64 (10.0.17763.1)');
  assert.equal(platformString(undefined), 'unknown');
  assert.equal(layerTypeLabel('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'tar+gzip (Docker)');
  assert.equal(layerTypeLabel('application/x-custom'), 'application/x-custom');
});
