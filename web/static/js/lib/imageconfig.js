// Image configuration blobs (OCI and Docker share the format) and their
// history, written back as Dockerfile-like steps. Pure: no DOM.

const INSTRUCTIONS = new Set([
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK',
  'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
]);

/** parseConfig extracts the fields the UI shows from an image config blob. */
export function parseConfig(cfg) {
  const c = (cfg && (cfg.config || cfg.container_config)) || {};
  return {
    created: (cfg && cfg.created) || '',
    author: (cfg && cfg.author) || '',
    os: (cfg && cfg.os) || '',
    architecture: (cfg && cfg.architecture) || '',
    variant: (cfg && cfg.variant) || '',
    user: c.User || '',
    workdir: c.WorkingDir || '',
    entrypoint: asList(c.Entrypoint),
    cmd: asList(c.Cmd),
    env: (c.Env || []).map(splitEnv),
    labels: Object.keys(c.Labels || {})
      .sort()
      .map((k) => ({ key: k, value: String(c.Labels[k]) })),
    exposedPorts: Object.keys(c.ExposedPorts || {}).sort(comparePorts),
    volumes: Object.keys(c.Volumes || {}).sort(),
    stopSignal: c.StopSignal || '',
    history: historySteps((cfg && cfg.history) || []),
    layerCount: ((cfg && cfg.rootfs && cfg.rootfs.diff_ids) || []).length,
  };
}

function asList(v) {
  if (v == null) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

function splitEnv(e) {
  const i = String(e).indexOf('=');
  return i < 0 ? { name: String(e), value: '' } : { name: e.slice(0, i), value: e.slice(i + 1) };
}

function comparePorts(a, b) {
  return parseInt(a, 10) - parseInt(b, 10) || a.localeCompare(b);
}

/** formatCommand writes an exec-form list the way a Dockerfile does. */
export function formatCommand(list) {
  if (!list || list.length === 0) return '';
  return JSON.stringify(list);
}

/**
 * step turns one history "created_by" into {instruction, args}:
 *   "/bin/sh -c #(nop)  CMD [\"sh\"]"      -> CMD ["sh"]
 *   "/bin/sh -c apk add curl"             -> RUN apk add curl
 *   "RUN /bin/sh -c make # buildkit"      -> RUN make
 *   "|2 A=1 B=2 /bin/sh -c make"          -> RUN make (build args dropped)
 *   "COPY dir / # buildkit"               -> COPY dir /
 */
export function step(createdBy) {
  let s = String(createdBy || '').trim();
  if (!s) return { instruction: '', args: '' };
  s = s.replace(/\s*# buildkit$/, '');
  s = s.replace(/^\|\d+(?:\s+\S+=\S*)*\s+/, ''); // build args of classic builder
  const nop = /^\/bin\/sh -c #\(nop\)\s+(.*)$/s.exec(s);
  if (nop) s = nop[1].trim();
  const shell = /^\/bin\/sh -c\s+(.*)$/s.exec(s);
  if (shell) return { instruction: 'RUN', args: shell[1].trim() };
  const m = /^([A-Z]+)\s*(.*)$/s.exec(s);
  if (m && INSTRUCTIONS.has(m[1])) {
    let args = m[2].trim();
    if (m[1] === 'RUN') args = args.replace(/^\/bin\/sh -c\s+/, '');
    return { instruction: m[1], args };
  }
  return { instruction: 'RUN', args: s };
}

/** historySteps maps config history to steps; empty_layer tells metadata-only steps from layers. */
export function historySteps(history) {
  let layer = 0;
  return history.map((h) => {
    const st = step(h.created_by);
    const empty = Boolean(h.empty_layer);
    return {
      ...st,
      created: h.created || '',
      comment: h.comment || '',
      emptyLayer: empty,
      layerIndex: empty ? -1 : layer++,
    };
  });
}

/** dockerfile writes steps as Dockerfile text. */
export function dockerfile(steps) {
  return steps
    .filter((s) => s.instruction)
    .map((s) => (s.args ? `${s.instruction} ${s.args}` : s.instruction))
    .join('\n');
}
