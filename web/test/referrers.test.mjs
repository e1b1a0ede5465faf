import assert from 'node:assert/strict';
import { test } from 'node:test';
import { artifactInfo, describeReferrer, nextReferrersPath, sortReferrers } from '../static/js/lib/referrers.js';

const d = (c) => `sha256:${c.repeat(64)}`;

test('artifactInfo labels well-known artifact types', () => {
  const cases = [
    ['application/vnd.dev.cosign.artifact.sig.v1+json', 'Cosign signature', 'signature'],
    ['application/vnd.dev.cosign.simplesigning.v1+json', 'Cosign signature', 'signature'],
    ['application/vnd.cncf.notary.signature', 'Notation signature', 'signature'],
    ['application/vnd.dev.sigstore.bundle.v0.3+json', 'Sigstore bundle', 'signature'],
    ['application/spdx+json', 'SPDX SBOM', 'sbom'],
    ['text/spdx', 'SPDX SBOM', 'sbom'],
    ['application/vnd.cyclonedx+json', 'CycloneDX SBOM', 'sbom'],
    ['application/vnd.cyclonedx+xml', 'CycloneDX SBOM', 'sbom'],
    ['application/vnd.dev.cosign.artifact.sbom.v1+json', 'Cosign SBOM', 'sbom'],
    ['application/vnd.in-toto+json', 'in-toto attestation', 'attestation'],
    ['application/vnd.dsse.envelope.v1+json', 'in-toto attestation (DSSE)', 'attestation'],
    ['application/vnd.example.thing', 'application/vnd.example.thing', 'other'],
    ['', 'Unknown type', 'other'],
    [undefined, 'Unknown type', 'other'],
  ];
  for (const [type, label, category] of cases) {
    assert.deepEqual(artifactInfo(type), { label, category }, String(type));
  }
});

test('describeReferrer: created from the annotation, annotations sorted, media type as fallback', () => {
  const r = describeReferrer({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: d('a'),
    size: 512,
    artifactType: 'application/spdx+json',
    annotations: { 'org.opencontainers.image.created': '2025-03-04T05:06:07Z', 'a.key': 'v' },
  });
  assert.equal(r.label, 'SPDX SBOM');
  assert.equal(r.category, 'sbom');
  assert.equal(r.created, '2025-03-04T05:06:07Z');
  assert.equal(r.size, 512);
  assert.deepEqual(r.annotations.map((a) => a.key), ['a.key', 'org.opencontainers.image.created']);

  const bare = describeReferrer({ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: d('b') });
  assert.equal(bare.label, 'Cosign signature');
  assert.equal(bare.created, '');
  assert.equal(bare.size, undefined);
  assert.deepEqual(bare.annotations, []);

  // Malformed entries never throw.
  for (const bad of [null, 'x', 42, { annotations: 'x', digest: 7 }]) {
    const x = describeReferrer(bad);
    assert.equal(x.digest, '');
    assert.deepEqual(x.annotations, []);
  }
});

test('sortReferrers: newest first, undated last, ties by label then digest', () => {
  const rs = [
    describeReferrer({ digest: d('1'), artifactType: 'application/spdx+json' }),
    describeReferrer({ digest: d('2'), artifactType: 'application/spdx+json', annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } }),
    describeReferrer({ digest: d('3'), artifactType: 'application/vnd.cncf.notary.signature', annotations: { 'org.opencontainers.image.created': '2025-01-01T00:00:00Z' } }),
    describeReferrer({ digest: d('0'), artifactType: 'application/spdx+json' }),
  ];
  assert.deepEqual(sortReferrers(rs).map((r) => r.digest), [d('3'), d('2'), d('0'), d('1')]);
});

test('nextReferrersPath follows only the listing itself', () => {
  const here = `/v2/team/app/referrers/${d('a')}`;
  assert.equal(nextReferrersPath(`<${here}?last=${d('b')}&n=2>; rel="next"`, here), `${here}?last=${d('b')}&n=2`);
  assert.equal(nextReferrersPath(`<?last=x>; rel="next"`, here), `${here}?last=x`);
  assert.equal(nextReferrersPath('', here), null);
  assert.equal(nextReferrersPath(null, here), null);
  assert.equal(nextReferrersPath(`<${here}?last=x>; rel="prev"`, here), null);
  assert.equal(nextReferrersPath(`<https://elsewhere.example/v2/team/app/referrers/${d('a')}?last=x>; rel="next"`, here), null);
  assert.equal(nextReferrersPath(`</v2/other/referrers/${d('a')}?last=x>; rel="next"`, here), null);
  assert.equal(nextReferrersPath(`<//elsewhere.example${here}>; rel="next"`, here), null);
});
