// Formatting of sizes, dates and digests. Pure: no DOM.

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** formatBytes uses decimal units like docker and most registries (1 kB = 1000 B). */
export function formatBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return '—';
  if (n < 1000) return `${n} B`;
  let i = 0;
  let v = n;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = v < 10 ? 2 : v < 100 ? 1 : 0;
  return `${v.toFixed(digits)} ${UNITS[i]}`;
}

const pad = (n) => String(n).padStart(2, '0');

/** formatDate writes an RFC 3339 time as "YYYY-MM-DD HH:MM UTC"; '—' when unknown. */
export function formatDate(value) {
  if (!value) return '—';
  const d = new Date(value);
  const t = d.getTime();
  // Zero times (0001-01-01, 1970-01-01) mean "not recorded" (reproducible builds).
  if (Number.isNaN(t) || t <= 0) return '—';
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/** relativeTime says how long ago value was, relative to now (ms epoch). */
export function relativeTime(value, now) {
  const t = new Date(value).getTime();
  if (!value || Number.isNaN(t) || t <= 0) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 0) return 'in the future';
  const steps = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [30, 'day'],
    [12, 'month'],
    [Infinity, 'year'],
  ];
  let v = s;
  for (const [size, unit] of steps) {
    if (v < size) return v === 1 ? `1 ${unit} ago` : `${v} ${unit}s ago`;
    v = Math.floor(v / size);
  }
  return '';
}

/** shortDigest keeps the algorithm and the first 12 hex digits, like docker. */
export function shortDigest(digest) {
  if (!digest) return '';
  const [alg, hex] = String(digest).split(':');
  return hex ? `${alg}:${hex.slice(0, 12)}` : String(digest);
}

/** pullCommand is what the user pastes to fetch an image. */
export function pullCommand(host, name, ref) {
  const sep = ref && ref.includes(':') ? '@' : ':';
  return `docker pull ${host}/${name}${sep}${ref}`;
}

export function plural(n, one, many = one + 's') {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** kindText is the Type column of the tag table for tagDetails' result. */
export function kindText(d) {
  if (d.kind === 'index') return `${d.kindLabel} · ${plural(d.platforms.length, 'platform')}`;
  if (d.kind === 'artifact') return `Artifact · ${d.artifactType}`;
  return d.kindLabel;
}
