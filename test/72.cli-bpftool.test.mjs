// The CLI as a bpftool user meets it: streaming dumps, EPIPE, maps whose entries cannot be read,
// bpftool's spelling with the object word, and prog/link listings — each compared with bpftool.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BpfMap, MapType } from 'bpfmap';
import { bpftool, pinPath, tmpMap } from './helpers/kernel.mjs';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

function cli(...args) {
  const r = spawnSync(process.execPath, [BIN, ...args.map(String)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A hash map of `n` u32 → u64 entries (value = key × 3). */
function bigHash(t, n, name) {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: n, name });
  const keys = new Uint8Array(4 * n);
  const values = new Uint8Array(8 * n);
  const kv = new DataView(keys.buffer);
  const vv = new DataView(values.buffer);
  for (let i = 0; i < n; i++) {
    kv.setUint32(4 * i, i, true);
    vv.setBigUint64(8 * i, BigInt(i) * 3n, true);
  }
  m.updateBatch(keys, values);
  return m;
}

test('dump --json of 100k entries is byte for byte what bpftool map dump -j prints, in flat memory', (t) => {
  const m = bigHash(t, 100_000, 'cli_stream');
  const theirs = execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(m.id)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const timed = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, BIN, 'dump', 'id', m.id, '--json'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  assert.equal(timed.status, 0, timed.stderr);
  assert.equal(timed.stdout.trimEnd(), theirs.trimEnd());
  const peakKiB = Number(timed.stderr.trim().split('\n').at(-1));
  // Node alone takes ~45 MiB; the whole dump held in memory took 250 MiB and more.
  assert.ok(peakKiB < 120 * 1024, `peak RSS ${peakKiB} KiB`);
});

test('dump --json of per-CPU and BTF maps still matches bpftool entry for entry', (t) => {
  const pc = tmpMap(t, { type: MapType.PercpuHash, keySize: 4, valueSize: 4, maxEntries: 600, name: 'cli_stream_pc' });
  for (let i = 0; i < 600; i++) pc.update(Uint8Array.of(i & 255, i >> 8, 0, 0), Uint8Array.of(i & 255, 1, 2, 3));
  const ours = JSON.parse(cli('dump', 'id', pc.id, '--json').out);
  const theirs = bpftool('map', 'dump', 'id', pc.id);
  assert.equal(ours.length, 600);
  assert.deepEqual(ours, theirs);
  const pretty = cli('dump', 'id', pc.id, '--pretty');
  assert.equal(pretty.code, 0, pretty.err);
  assert.deepEqual(JSON.parse(pretty.out), theirs);
  assert.ok(pretty.out.split('\n').length > 600 * 5, 'indented');
});

test('dump … | head -1 ends quietly: exit 0 and nothing on stderr', (t) => {
  const m = bigHash(t, 20_000, 'cli_epipe');
  for (const fmt of ['--json', '']) {
    const r = spawnSync(
      'bash',
      [
        '-c',
        `set -o pipefail; ${process.execPath} ${BIN} dump id ${m.id} ${fmt} 2>/tmp/bpfmap_epipe_$$ | head -1 >/dev/null; echo "rc=$?"; cat /tmp/bpfmap_epipe_$$; rm -f /tmp/bpfmap_epipe_$$`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.stdout.trim(), 'rc=0', `dump ${fmt}: ${r.stdout}`);
  }
});

for (const type of ['perf_event_array', 'cgroup_array']) {
  test(`dump of a ${type} lists each key with its error and exits 0, as bpftool does`, (t) => {
    const path = pinPath(t, `cli_${type}`);
    execFileSync('bpftool', ['map', 'create', path, 'type', type, 'key', '4', 'value', '4', 'entries', '3', 'name', 'cli_errs']);
    const theirs = bpftool('map', 'dump', 'pinned', path);
    const r = cli('dump', 'pinned', path, '--json');
    assert.equal(r.code, 0, r.err);
    const ours = JSON.parse(r.out);
    assert.deepEqual(
      ours.map((e) => e.key),
      theirs.map((e) => e.key),
    );
    for (const e of ours) assert.match(e.value.error, /^ENOTSUPP \(errno 524\)$/);
    for (const e of theirs) assert.ok(e.value.error, 'bpftool reports an error per key too');
    const text = cli('dump', 'pinned', path);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /00 00 00 00\s+error: ENOTSUPP/);
    assert.match(text.out, /0 entries, 3 unreadable/);
  });
}
