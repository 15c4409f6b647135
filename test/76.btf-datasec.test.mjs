// Global-data maps (.bss, .data, .rodata) from a clang-compiled object, loaded by bpftool: their
// values are BTF DATASECs and read as records of their variables, in the library and the CLI,
// agreeing with what bpftool prints for the same maps.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BpfMap } from 'bpfmap';
import { BPFFS, bpftool, ensureBpffs } from './helpers/kernel.mjs';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const multiarch = `/usr/include/${arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;

function cli(...args) {
  const r = spawnSync(process.execPath, [BIN, ...args.map(String)], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Loads globals.bpf.c with bpftool; returns its three section maps, opened. */
function globals(t) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-datasec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const obj = join(dir, 'g.o');
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-I${multiarch}`, '-c', join(fixtures, 'globals.bpf.c'), '-o', obj]);
  ensureBpffs();
  const pins = join(BPFFS, `bpfmap_test_${process.pid}_datasec`);
  mkdirSync(pins, { recursive: true });
  t.after(() => rmSync(pins, { recursive: true, force: true }));
  execFileSync('bpftool', ['prog', 'loadall', obj, join(pins, 'progs'), 'type', 'socket', 'pinmaps', join(pins, 'maps')]);
  const open = (n) => {
    const path = join(pins, 'maps', n);
    const m = BpfMap.openPinned(path);
    t.after(() => m.close());
    return { map: m, path };
  };
  return { bss: open('g_bss'), data: open('g_data'), rodata: open('g_rodata') };
}

/** bpftool's formatted datasec value (`{".bss": [{"my_pid": 0}, …]}`) as one record. */
function bpftoolSection(id) {
  const [entry] = bpftool('map', 'dump', 'id', id);
  const [sec] = Object.values(entry.formatted.value);
  return Object.assign({}, ...sec);
}

test('typedFromBtf reads .bss, .data and .rodata as records of their variables, as bpftool does', (t) => {
  const g = globals(t);
  const data = g.data.map.typedFromBtf();
  assert.equal(data.valueType.name, 'datasec .data');
  assert.deepEqual(data.get(0), { level: 3, point: { a: 7, b: 9 } });
  assert.deepEqual(data.get(0), bpftoolSection(g.data.map.id));
  assert.deepEqual(g.rodata.map.typedFromBtf().get(0), { limit: 100, tag: 'abc' });
  assert.deepEqual(bpftoolSection(g.rodata.map.id), { limit: 100, tag: 'abc' });
  const bss = g.bss.map.typedFromBtf();
  bss.set(0, { my_pid: 42, hits: 1n << 40n, last_comm: 'init' });
  assert.deepEqual(bpftoolSection(g.bss.map.id), { my_pid: 42, hits: 2 ** 40, last_comm: 'init' });
});

test('the CLI decodes datasec maps in dump and lookup, and update --value sets only the variables named', (t) => {
  const g = globals(t);
  g.bss.map.typedFromBtf().set(0, { my_pid: 1, hits: 77n, last_comm: 'sh' });
  const up = cli('update', 'pinned', g.bss.path, '--key-int', 0, '--value', '{"my_pid":123}');
  assert.equal(up.code, 0, up.err);
  assert.deepEqual(bpftoolSection(g.bss.map.id), { my_pid: 123, hits: 77, last_comm: 'sh' });
  const dumped = JSON.parse(cli('dump', 'pinned', g.data.path, '--json').out);
  assert.deepEqual(dumped[0].formatted, { key: 0, value: { level: 3, point: { a: 7, b: 9 } } });
  const looked = cli('lookup', 'pinned', g.bss.path, '--key-int', 0);
  assert.equal(looked.code, 0, looked.err);
  assert.match(looked.out, /\{ my_pid: 123, hits: 77, last_comm: "sh" \}/);
  const text = cli('dump', 'pinned', g.rodata.path);
  assert.match(text.out, /\{ limit: 100, tag: "abc" \}/);
});
