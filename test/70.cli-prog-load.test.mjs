// `bpfmap prog load OBJ PINDIR [pinmaps DIR] [autoattach]` (bpftool's prog loadall): the programs,
// maps and links it pins outlive the command, bpftool sees them, and the autoattached tracepoint
// runs after the CLI exited (its count read back through the pinned map). Failures leave no pins.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BpfMap, BpfProgram, cstring, defineStruct, u64 } from 'bpfmap';
import { buildBpf, buildProgram } from './fixtures/e2e/build.mjs';
import { BPFFS, bpftool, ensureBpffs } from './helpers/kernel.mjs';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

function cli(...args) {
  const r = spawnSync(process.execPath, [BIN, ...args.map(String)], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function dirs(t, name) {
  ensureBpffs();
  const base = `${BPFFS}/bpfmap_e2e_${process.pid}_${name}`;
  t.after(() => {
    rmSync(`${base}_progs`, { recursive: true, force: true });
    rmSync(`${base}_maps`, { recursive: true, force: true });
  });
  return { progs: `${base}_progs`, maps: `${base}_maps` };
}

test('prog load pins every program at PINDIR/<name>, bpftool sees them; pinmaps pins the maps', (t) => {
  const d = dirs(t, 'load');
  const r = cli('prog', 'load', buildBpf('syscount'), d.progs, 'pinmaps', d.maps, '--json');
  assert.equal(r.code, 0, r.err);
  const pinned = JSON.parse(r.out);
  assert.deepEqual(pinned.map((x) => [x.kind, x.name]).sort(), [
    ['map', '.bss'],
    ['map', '.rodata'],
    ['map', 'counts'],
    ['map', 'events'],
    ['map', 'hist'],
    ['prog', 'on_getppid'],
    ['prog', 'pass_all'],
  ]);
  for (const x of pinned) assert.equal(x.path, `${x.kind === 'map' ? d.maps : d.progs}/${x.name.replace('.', '_')}`);
  const tp = bpftool('prog', 'show', 'pinned', `${d.progs}/on_getppid`);
  assert.equal(tp.type, 'tracepoint');
  assert.equal(tp.name, 'on_getppid');
  assert.equal(bpftool('prog', 'show', 'pinned', `${d.progs}/pass_all`).type, 'xdp');
  const counts = bpftool('map', 'show', 'pinned', `${d.maps}/counts`);
  assert.equal(counts.id, pinned.find((x) => x.name === 'counts').id);
  assert.ok(tp.map_ids.includes(counts.id), 'the pinned program uses the pinned map');
  // Without autoattach nothing is attached.
  assert.ok(!(bpftool('link', 'show') ?? []).some((l) => l.prog_id === tp.id));
  // The library opens the pins too.
  const prog = BpfProgram.openPinned(`${d.progs}/on_getppid`);
  t.after(() => prog.close());
  assert.equal(prog.id, tp.id);
});

test('prog load … autoattach pins the tracepoint link (it keeps running after the CLI exits), the xdp program as a program', (t) => {
  const d = dirs(t, 'auto');
  const r = cli('prog', 'loadall', buildBpf('syscount'), d.progs, 'pinmaps', d.maps, 'autoattach', '--json');
  assert.equal(r.code, 0, r.err);
  const pinned = JSON.parse(r.out);
  const tpLink = pinned.find((x) => x.name === 'on_getppid');
  assert.equal(tpLink.kind, 'link');
  assert.equal(pinned.find((x) => x.name === 'pass_all').kind, 'prog');
  const shown = bpftool('link', 'show', 'pinned', `${d.progs}/on_getppid`);
  assert.equal(shown.id, tpLink.id);
  assert.equal(shown.prog_id, tpLink.prog_id);
  // target_pid is 0 (not set): pid 0 never calls getppid, so the count stays empty; the program runs
  // though: bpftool shows the link on the tracepoint, attached after the CLI has exited.
  assert.ok((bpftool('link', 'show') ?? []).some((l) => l.id === tpLink.id));
  const counts = BpfMap.openPinned(`${d.maps}/counts`);
  t.after(() => counts.close());
  const key = defineStruct('key', { pid: 'u32', comm: cstring(16) });
  spawnSync(buildProgram('getppid_loop'), { input: '3\n' });
  assert.deepEqual([...counts.typed(key, u64).entries()], []);
  // Removing the pin detaches.
  rmSync(`${d.progs}/on_getppid`);
  assert.ok(!(bpftool('link', 'show') ?? []).some((l) => l.id === tpLink.id), 'unpinned link is gone');
});

test('prog load: usage errors exit 2, a bad object exits 1 and leaves no directory behind', (t) => {
  const d = dirs(t, 'bad');
  assert.equal(cli('prog', 'load').code, 2);
  assert.equal(cli('prog', 'load', buildBpf('syscount')).code, 2);
  const extra = cli('prog', 'load', buildBpf('syscount'), d.progs, 'bogus');
  assert.equal(extra.code, 2);
  assert.match(extra.err, /pinmaps DIR or autoattach/);
  const missing = cli('prog', 'load', '/nonexistent.bpf.o', d.progs);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^bpfmap: /);
  assert.equal(existsSync(d.progs), false);
  // A pin directory off a bpffs is refused before anything is loaded or made, naming the directory.
  const notBpffs = `${tmpdir()}/bpfmap_e2e_${process.pid}_not_bpffs/sub`;
  t.after(() => rmSync(dirname(notBpffs), { recursive: true, force: true }));
  const off = cli('prog', 'load', buildBpf('syscount'), d.progs, 'pinmaps', notBpffs);
  assert.equal(off.code, 1);
  assert.match(off.err, /map pin directory .*not_bpffs\/sub is not on a bpffs .*mount -t bpf/);
  assert.equal(existsSync(d.progs), false);
  assert.equal(existsSync(dirname(notBpffs)), false);
  // Under /proc a recursive mkdir never returns; the check refuses it at once.
  const proc = spawnSync(process.execPath, [BIN, 'prog', 'load', buildBpf('syscount'), '/proc/bpfmap_x/y'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(proc.status, 1, `exit ${proc.status} signal ${proc.signal}`);
  assert.match(proc.stderr, /pin directory \/proc\/bpfmap_x\/y is not on a bpffs \(\/proc is not one\)/);
});

test('a verb or help topic named like an Object.prototype member is unknown, not run', () => {
  for (const v of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    const r = cli(v);
    assert.equal(r.code, 2, `${v}: ${r.err}`);
    assert.match(r.err, /unknown verb/);
  }
  const h = cli('help', 'constructor');
  assert.equal(h.code, 0);
  assert.match(h.out, /^usage: bpfmap VERB/);
});
