import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attachedText, cosignTag, fallbackTags, groupTags, kindName } from '../static/js/lib/cosigntags.js';

const hex = 'ab'.repeat(32);
const hex2 = 'cd'.repeat(32);

test('cosignTag recognises the fallback tags only', () => {
  assert.deepEqual(cosignTag(`sha256-${hex}.sig`), { digest: `sha256:${hex}`, kind: 'sig' });
  assert.deepEqual(cosignTag(`sha256-${hex}.att`), { digest: `sha256:${hex}`, kind: 'att' });
  assert.deepEqual(cosignTag(`sha256-${hex}.sbom`), { digest: `sha256:${hex}`, kind: 'sbom' });
  assert.deepEqual(cosignTag(`sha512-${'ef'.repeat(64)}.sig`), { digest: `sha512:${'ef'.repeat(64)}`, kind: 'sig' });
  for (const t of ['v1', 'latest', `sha256-${hex}`, `sha256-${hex}.sig2`, `sha256-${hex.slice(2)}.sig`, `sha256-${hex.toUpperCase()}.sig`, `sha512-${hex}.sig`, `sha256-${'ef'.repeat(64)}.sig`, `x-sha256-${hex}.sig`]) {
    assert.equal(cosignTag(t), null, t);
  }
});

test('fallbackTags names the tags cosign uses for a digest', () => {
  assert.deepEqual(fallbackTags(`sha256:${hex}`), [`sha256-${hex}.sig`, `sha256-${hex}.att`, `sha256-${hex}.sbom`]);
  assert.deepEqual(fallbackTags(''), []);
  assert.deepEqual(fallbackTags('nodigest'), []);
});

test('groupTags keeps ordinary tags and groups fallback tags by digest', () => {
  const g = groupTags(['v1', `sha256-${hex}.sbom`, `sha256-${hex}.sig`, 'latest', `sha256-${hex2}.att`, `sha256-${hex}.att`]);
  assert.deepEqual(g.plain, ['v1', 'latest']);
  assert.equal(g.hidden, 4);
  assert.deepEqual(g.attached.get(`sha256:${hex}`).map((x) => x.kind), ['sig', 'att', 'sbom']);
  assert.deepEqual(g.attached.get(`sha256:${hex2}`), [{ tag: `sha256-${hex2}.att`, kind: 'att' }]);
  const none = groupTags(['a', 'b']);
  assert.deepEqual(none.plain, ['a', 'b']);
  assert.equal(none.attached.size, 0);
  assert.equal(none.hidden, 0);
});

test('attachedText counts by kind', () => {
  assert.equal(attachedText([{ kind: 'sig' }]), '1 signature');
  assert.equal(attachedText([{ kind: 'sbom' }, { kind: 'sig' }, { kind: 'att' }, { kind: 'att' }]), '1 signature, 2 attestations, 1 SBOM');
  assert.equal(attachedText([]), '');
});

test('kindName', () => {
  assert.deepEqual(['sig', 'att', 'sbom', 'x'].map(kindName), ['signature', 'attestation', 'SBOM', 'x']);
});
