// Test fixtures: maps that close themselves, a bpffs mount, bpftool, fd counting, GC-enabled child scripts.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { BpfMap } from 'bpfmap';

export const BPFFS = '/sys/fs/bpf';

/** Creates a map that is closed when the test `t` ends. */
export function tmpMap(t, opts) {
  const map = BpfMap.create(opts);
  t.after(() => map.close());
  return map;
}

/** Closes `map` when `t` ends. */
export function closeAfter(t, map) {
  t.after(() => map.close());
  return map;
}

/** Mounts bpffs at /sys/fs/bpf when it is not mounted there. */
export function ensureBpffs() {
  const mounted = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === BPFFS && l.split(' ')[2] === 'bpf');
  if (!mounted) execFileSync('mount', ['-t', 'bpf', 'bpf', BPFFS]);
}

/** A fresh pin path under bpffs, removed when `t` ends. */
export function pinPath(t, name) {
  ensureBpffs();
  const path = `${BPFFS}/bpfmap_test_${process.pid}_${name}`;
  t.after(() => {
    try {
      execFileSync('rm', ['-f', path]);
    } catch {}
  });
  return path;
}

/** Runs bpftool with -j and parses its JSON output. */
export function bpftool(...args) {
  // 256 MiB: `prog show` on a busy machine (thousands of programs) passes node's 1 MiB default.
  const out = execFileSync('bpftool', ['-j', ...args.map(String)], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return out.trim() ? JSON.parse(out) : null;
}

/** bpftool's "0x.." byte strings as a Uint8Array. */
export function fromHex(list) {
  return Uint8Array.from(list.map((s) => Number.parseInt(s, 16)));
}

/** A little-endian u32 key. */
export function u32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** A little-endian u64 value. */
export function u64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

export function readU32(b) {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
}

export function readU64(b) {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);
}

/**
 * Runs an ES module `script` in a fresh node with --expose-gc (from the package root, so it can
 * import 'bpfmap') and returns the JSON object its last output line prints. A fresh process keeps
 * fd, heap and GC counts free of whatever the test runner holds.
 */
export function gcChild(script) {
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: new URL('../..', import.meta.url),
    timeout: 300_000,
  });
  const figures = JSON.parse(out.trim().split('\n').at(-1));
  console.log(`# ${JSON.stringify(figures)}`);
  return figures;
}

/** How many fds this process has open. */
export function openFdCount() {
  return readdirSync('/proc/self/fd').length;
}

/** Kernel ids of every map on the system. */
export function mapIds() {
  return new Set(bpftool('map', 'show').map((m) => m.id));
}
