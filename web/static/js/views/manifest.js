// Details of one tag or digest: what kind of manifest it is (image,
// multi-platform index, OCI artifact, anything else by media type), its
// configuration and history as Dockerfile steps, layers, annotations and
// referrers (signatures, SBOMs) when the registry serves the referrers API.

import { clear, h, link } from '../dom.js';
import { isAbort } from '../lib/apierror.js';
import { formatBytes, plural, pullCommand, shortDigest } from '../lib/format.js';
import { dockerfile, formatCommand, parseConfig } from '../lib/imageconfig.js';
import { cosignTag, fallbackTags, kindName } from '../lib/cosigntags.js';
import { layerTypeLabel, summarize } from '../lib/manifest.js';
import { describe } from '../lib/problem.js';
import { describeReferrer, sortReferrers } from '../lib/referrers.js';
import { pathFor, reference } from '../lib/route.js';
import { breadcrumb, command, confirm, copyButton, dateTime, dl, loading, mayDelete, problem, pullHost, table } from './common.js';

export function manifestView(ctx, route) {
  const { name } = route;
  const ref = route.digest || route.tag;
  const label = route.digest ? shortDigest(route.digest) : route.tag;
  const body = h('div', {}, loading('Loading manifest…'));
  ctx.main.append(breadcrumb(name, label), h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, `${name}${route.digest ? '@' : ':'}${label}`)), body);
  ctx.setTitle(`${name}${route.digest ? '@' : ':'}${label}`);

  const section = (title, ...content) => h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), ...content);

  // Asked in parallel with the manifest: the delete button is offered only when the user may delete.
  const deletable = mayDelete(ctx, name);

  async function run() {
    const m = await ctx.registry.manifest(name, ref, { signal: ctx.signal });
    const canDelete = await deletable;
    const s = summarize(m);
    const parts = [];
    const host = pullHost(ctx);
    const pullRef = route.digest || route.tag;
    const fallback = route.tag ? cosignTag(route.tag) : null; // a sha256-<hex>.sig tag names the image it belongs to
    parts.push(
      section(
        'Overview',
        dl([
          ['Kind', h('span', { 'data-kind': s.kind }, s.kindLabel)],
          ['Digest', h('span', { class: 'digest-full' }, h('code', {}, s.digest), copyButton(s.digest, 'Copy digest'))],
          ['Media type', h('code', {}, s.mediaType || 'unknown')],
          ['Artifact type', s.artifactType ? h('code', { 'data-artifact-type': true }, s.artifactType) : ''],
          ['Size', s.kind === 'index' ? `${formatBytes(s.manifestSize)} index (platform sizes below)` : `${formatBytes(s.totalSize)} (${plural(s.layers.length, s.kind === 'artifact' ? 'blob' : 'layer')} + config)`],
          ['Subject', s.subject ? link(pathFor({ view: 'manifest', name, digest: s.subject.digest }), shortDigest(s.subject.digest)) : ''],
          fallback ? [`Cosign ${kindName(fallback.kind)} of`, link(pathFor({ view: 'manifest', name, digest: fallback.digest }), shortDigest(fallback.digest), { 'data-fallback-of': fallback.digest })] : ['', ''],
          ['Pull', command(pullCommand(host, name, pullRef))],
        ]),
        canDelete ? h('div', { class: 'actions' }, deleteButton(s.digest)) : null,
      ),
    );

    if (s.kind === 'index') parts.push(await platformsSection(s));
    if (s.kind === 'image' && s.config) parts.push(...(await imageSections(s)));
    if (s.kind === 'artifact' && s.config) {
      parts.push(section('Config', dl([['Media type', h('code', {}, s.config.mediaType)], ['Digest', h('code', {}, s.config.digest)], ['Size', formatBytes(s.config.size)]])));
    }
    if (s.layers.length) parts.push(layersSection(s));
    if (s.annotations.length) parts.push(section('Annotations', table('Annotations', ['Key', 'Value'], s.annotations.map((a) => [h('code', {}, a.key), a.value]))));
    const [refs, tags] = await Promise.all([ctx.registry.referrers(name, s.digest, { signal: ctx.signal }), fallbackTagsOf(s.digest)]);
    if (refs.manifests.length) parts.push(referrersSection(refs));
    if (tags.length) parts.push(fallbackSection(tags));
    parts.push(h('details', { class: 'card raw' }, h('summary', {}, 'Raw manifest'), h('pre', {}, h('code', {}, JSON.stringify(m.body, null, 2)))));
    clear(body).append(...parts);
  }

  async function platformsSection(s) {
    const rows = await Promise.all(
      s.platforms.map(async (p) => {
        let size = p.size;
        try {
          const child = summarize(await ctx.registry.manifest(name, p.digest, { signal: ctx.signal }));
          size = child.totalSize;
        } catch (err) {
          if (isAbort(err)) throw err;
        }
        return [
          link(pathFor({ view: 'manifest', name, digest: p.digest }), p.attestation ? 'attestation' : p.platform, { 'data-platform': p.platform }),
          h('code', { title: p.digest }, shortDigest(p.digest)),
          h('code', { class: 'small' }, p.mediaType),
          formatBytes(size),
        ];
      }),
    );
    return section('Platforms', table('Platforms of this index', ['Platform', 'Digest', 'Media type', 'Size'], rows, 'platforms'));
  }

  async function imageSections(s) {
    const cfg = parseConfig(await ctx.registry.blobJSON(name, s.config.digest, { signal: ctx.signal }));
    const out = [];
    const platform = [cfg.os, cfg.architecture, cfg.variant].filter(Boolean).join('/');
    out.push(
      section(
        'Configuration',
        dl([
          ['Created', cfg.created ? dateTime(cfg.created) : ''],
          ['Platform', platform],
          ['Author', cfg.author],
          ['Entrypoint', cfg.entrypoint.length ? h('code', { 'data-entrypoint': true }, formatCommand(cfg.entrypoint)) : ''],
          ['Command', cfg.cmd.length ? h('code', { 'data-cmd': true }, formatCommand(cfg.cmd)) : ''],
          ['User', cfg.user ? h('code', {}, cfg.user) : ''],
          ['Working directory', cfg.workdir ? h('code', {}, cfg.workdir) : ''],
          ['Exposed ports', cfg.exposedPorts.length ? h('span', { 'data-ports': true }, cfg.exposedPorts.join(', ')) : ''],
          ['Volumes', cfg.volumes.join(', ')],
          ['Stop signal', cfg.stopSignal],
          ['Config', h('code', { title: s.config.digest }, `${shortDigest(s.config.digest)} · ${s.config.mediaType}`)],
        ]),
      ),
    );
    if (cfg.env.length) out.push(section('Environment', table('Environment variables', ['Name', 'Value'], cfg.env.map((e) => [h('code', {}, e.name), h('code', { class: 'wrap' }, e.value)]), 'env')));
    if (cfg.labels.length) out.push(section('Labels', table('Labels', ['Label', 'Value'], cfg.labels.map((l) => [h('code', {}, l.key), l.value]), 'labels')));
    if (cfg.history.length) {
      const steps = cfg.history.filter((x) => x.instruction);
      out.push(
        section(
          'History',
          h(
            'ol',
            { class: 'history' },
            steps.map((st) =>
              h(
                'li',
                {},
                h('code', {}, h('span', { class: 'instr' }, st.instruction), ' ', st.args),
                st.emptyLayer ? null : h('span', { class: 'badge', title: 'This step added a layer' }, `layer ${st.layerIndex + 1}${s.layers[st.layerIndex] ? ' · ' + formatBytes(s.layers[st.layerIndex].size) : ''}`),
              ),
            ),
          ),
          h('details', {}, h('summary', {}, 'As a Dockerfile'), h('div', { class: 'command' }, h('pre', {}, h('code', {}, dockerfile(steps))), copyButton(dockerfile(steps), 'Copy Dockerfile'))),
        ),
      );
    }
    return out;
  }

  function layersSection(s) {
    const title = s.kind === 'artifact' ? 'Blobs' : 'Layers';
    return section(
      title,
      table(
        title,
        ['#', 'Digest', 'Media type', 'Size'],
        s.layers.map((l, i) => [String(i + 1), h('span', {}, h('code', { title: l.digest }, shortDigest(l.digest)), l.title ? h('span', { class: 'muted' }, ` ${l.title}`) : null), h('code', { class: 'small', title: l.mediaType }, layerTypeLabel(l.mediaType)), formatBytes(l.size)]),
        'layers',
      ),
    );
  }

  function referrersSection({ manifests, more }) {
    const refs = sortReferrers(manifests.map(describeReferrer).filter((r) => r.digest));
    return section(
      'Referrers',
      h('p', { class: 'muted' }, 'Signatures, SBOMs, attestations and other artifacts that refer to this manifest. Each opens its own page.'),
      table(
        'Referrers',
        ['Type', 'Digest', 'Size', 'Created', 'Annotations'],
        refs.map((r) => [
          h('span', { 'data-referrer-type': r.category }, h('span', { class: 'referrer-label' }, r.label), r.label !== r.artifactType && r.artifactType ? h('code', { class: 'small block', title: 'Artifact type' }, r.artifactType) : null),
          link(pathFor({ view: 'manifest', name, digest: r.digest }), shortDigest(r.digest), { title: r.digest, 'data-referrer': r.digest }),
          h('span', { class: 'nowrap' }, formatBytes(r.size)),
          h('span', { class: 'nowrap' }, r.created ? dateTime(r.created) : '—'),
          r.annotations.length
            ? h('ul', { class: 'annotations' }, r.annotations.map((a) => h('li', {}, h('code', {}, a.key), ' ', h('span', { class: 'annotation-value' }, a.value))))
            : '—',
        ]),
        'referrers',
      ),
      more ? h('p', { class: 'muted small' }, `Only the first ${plural(refs.length, 'referrer')} are shown.`) : null,
    );
  }

  /** fallbackTagsOf lists the cosign fallback tags (.sig, .att, .sbom) that exist for digest. */
  async function fallbackTagsOf(digest) {
    if (!digest) return [];
    const found = await Promise.all(
      fallbackTags(digest).map((tag) =>
        ctx.registry.digestOf(name, tag, { signal: ctx.signal }).then(
          (d) => ({ tag, digest: d }),
          (err) => {
            if (isAbort(err)) throw err;
            return null;
          },
        ),
      ),
    );
    return found.filter(Boolean);
  }

  function fallbackSection(tags) {
    return section(
      'Signature tags',
      h('p', { class: 'muted' }, 'Tags cosign stores next to this manifest when it does not use the referrers API. The tag list groups them under this image.'),
      table(
        'Signature tags',
        ['Kind', 'Tag', 'Digest'],
        tags.map((t) => [kindName(cosignTag(t.tag).kind), link(pathFor({ view: 'manifest', name, tag: t.tag }), t.tag, { 'data-fallback-tag': t.tag }), h('code', { title: t.digest }, shortDigest(t.digest))]),
        'fallback-tags',
      ),
    );
  }

  function deleteButton(digest) {
    return h(
      'button',
      {
        type: 'button',
        class: 'btn btn-danger',
        onclick: async () => {
          const ok = await confirm({
            title: `Delete ${reference(route)}?`,
            confirmLabel: 'Delete manifest',
            body: [h('p', {}, 'The manifest ', h('code', {}, shortDigest(digest)), ' is deleted by digest, with every tag that points to it. This cannot be undone.')],
          });
          if (!ok) return;
          try {
            await ctx.registry.deleteManifest(name, digest);
            ctx.navigate(pathFor({ view: 'repository', name }), { notice: { text: `Deleted ${reference(route)}.`, type: 'ok' } });
          } catch (err) {
            if (ctx.handleAuth(err)) return;
            const p = describe(err);
            ctx.flash(`${p.title}: ${p.message}`, 'error');
          }
        },
      },
      'Delete…',
    );
  }

  run().catch((err) => {
    if (isAbort(err) || ctx.handleAuth(err)) return;
    clear(body).append(problem(ctx, err, route.digest ? `manifest ${reference(route)}` : `tag ${reference(route)}`));
  });
}
