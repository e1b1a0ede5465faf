import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dockerfile, formatCommand, historySteps, parseConfig, step } from '../static/js/lib/imageconfig.js';

test('history created_by as Dockerfile steps', async (t) => {
  const cases = [
    ['/bin/sh -c #(nop) ADD file:1234 in / ', { instruction: 'ADD', args: 'file:1234 in /' }],
    ['/bin/sh -c #(nop)  CMD ["/bin/sh"]', { instruction: 'CMD', args: '["/bin/sh"]' }],
    ['/bin/sh -c apk add --no-cache curl', { instruction: 'RUN', args: 'apk add --no-cache curl' }],
    ['RUN /bin/sh -c make install # buildkit', { instruction: 'RUN', args: 'make install' }],
    ['COPY . /src # buildkit', { instruction: 'COPY', args: '. /src' }],
    ['ENV PATH=/usr/local/bin:/usr/bin', { instruction: 'ENV', args: 'PATH=/usr/local/bin:/usr/bin' }],
    ['|2 VERSION=1.2 TARGET=x /bin/sh -c ./build.sh', { instruction: 'RUN', args: './build.sh' }],
    ['WORKDIR /app', { instruction: 'WORKDIR', args: '/app' }],
    ['go build -o /out', { instruction: 'RUN', args: 'go build -o /out' }],
    ['', { instruction: '', args: '' }],
  ];
  for (const [input, want] of cases) await t.test(input || '(empty)', () => assert.deepEqual(step(input), want));
});

test('historySteps numbers the layers, skipping empty ones', () => {
  const steps = historySteps([
    { created_by: '/bin/sh -c #(nop) ADD file:1 in /' },
    { created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
    { created_by: 'RUN /bin/sh -c true # buildkit', created: '2024-01-01T00:00:00Z', comment: 'buildkit.dockerfile.v0' },
  ]);
  assert.deepEqual(steps.map((s) => s.layerIndex), [0, -1, 1]);
  assert.equal(steps[2].comment, 'buildkit.dockerfile.v0');
  assert.equal(dockerfile(steps), 'ADD file:1 in /\nCMD ["sh"]\nRUN true');
});

test('parseConfig', () => {
  const cfg = parseConfig({
    created: '2024-05-06T07:08:09Z',
    author: 'team',
    os: 'linux',
    architecture: 'arm64',
    variant: 'v8',
    config: {
      User: '1000:1000',
      WorkingDir: '/app',
      Entrypoint: ['/entry.sh'],
      Cmd: ['serve', '--port', '8080'],
      Env: ['PATH=/usr/bin', 'EMPTY=', 'WEIRD=a=b'],
      Labels: { 'org.opencontainers.image.source': 'https://example.com', a: 'b' },
      ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '443/tcp': {} },
      Volumes: { '/data': {} },
      StopSignal: 'SIGTERM',
    },
    rootfs: { type: 'layers', diff_ids: ['sha256:1', 'sha256:2'] },
    history: [{ created_by: 'CMD ["serve"]', empty_layer: true }],
  });
  assert.equal(cfg.user, '1000:1000');
  assert.equal(cfg.workdir, '/app');
  assert.deepEqual(cfg.entrypoint, ['/entry.sh']);
  assert.deepEqual(cfg.cmd, ['serve', '--port', '8080']);
  assert.deepEqual(cfg.env, [
    { name: 'PATH', value: '/usr/bin' },
    { name: 'EMPTY', value: '' },
    { name: 'WEIRD', value: 'a=b' },
  ]);
  assert.deepEqual(cfg.labels.map((l) => l.key), ['a', 'org.opencontainers.image.source']);
  assert.deepEqual(cfg.exposedPorts, ['53/udp', '443/tcp', '8080/tcp']);
  assert.deepEqual(cfg.volumes, ['/data']);
  assert.equal(cfg.layerCount, 2);
  assert.equal(cfg.history[0].instruction, 'CMD');
  assert.equal(formatCommand(cfg.cmd), '["serve","--port","8080"]');
});

test('parseConfig tolerates missing fields and a string Cmd', () => {
  const cfg = parseConfig({ config: { Cmd: 'echo hi' } });
  assert.deepEqual(cfg.cmd, ['echo hi']);
  assert.deepEqual(cfg.env, []);
  const empty = parseConfig(null);
  assert.equal(empty.user, '');
  assert.deepEqual(empty.history, []);
});
