// bpfmap/testing needs no privilege: a child process as uid 65534 (nobody) with every capability
// dropped (effective, inheritable, ambient and bounding sets) uses every FakeMap type and the fake
// readers; in the same sandbox a real BpfMap.create fails with EPERM, and the same script made to
// use BpfMap instead of FakeMap fails: a fake that issued a syscall would be caught.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const child = fileURLToPath(new URL('./81.fake-child.mjs', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

function unprivileged(env = {}) {
  const r = spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, child],
    { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 },
  );
  return { status: r.status, out: r.stdout, err: `${r.stderr}${r.error ?? ''}` };
}

test('every FakeMap type and the fake readers work as nobody with no capabilities; BpfMap there fails EPERM', () => {
  const r = unprivileged();
  assert.equal(r.status, 0, r.err);
  const got = JSON.parse(r.out);
  assert.equal(got.uid, 65534);
  assert.equal(got.capEff, '0000000000000000', 'no effective capabilities');
  assert.equal(got.capBnd, '0000000000000000', 'an empty bounding set');
  assert.equal(got.real, 'EPERM', 'the sandbox refuses bpf(2): what a fake that used it would meet');
  assert.deepEqual(got.done, {
    hash: { sum: '12', full: 'E2BIG' },
    percpu: Array(got.done.percpu.length).fill('3'),
    lru: 2,
    array: [2, 1],
    queue: '1',
    bloom: true,
    lpm: 16,
    ring: 16,
    perf: { cpu: 1, bytes: 4 },
  });
});

test('the same script using BpfMap instead of FakeMap fails in that sandbox (EPERM)', () => {
  const r = unprivileged({ BPFMAP_FAKE_CHILD_REAL: '1' });
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.err, /BpfError: BPF_[A-Z_]+: EPERM/);
});
