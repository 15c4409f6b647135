// The same objects loaded by libbpf (a small C loader, -lbpf) and by loadObject must give the same
// map definitions (bpftool map show: name, type, key/value sizes, max_entries, flags) and the same
// instructions after relocation, CO-RE included (bpftool prog dump xlated, with map ids and
// subprogram tags replaced by names).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { loadObject } from 'bpfmap';
import { buildLibbpfLoader, buildObject } from './fixtures/obj/build.mjs';
import { BPFFS, bpftool, ensureBpffs } from './helpers/kernel.mjs';

/** Loads `obj` with libbpf in a child; resolves to { maps: name→id, progs: name→id, done() }. */
function libbpfLoad(t, obj, pinRoot, skip = []) {
  const child = spawn(buildLibbpfLoader('libbpf-load'), [obj, pinRoot, ...skip], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  t.after(async () => {
    child.stdin.end();
    await exited;
  });
  return new Promise((resolve, reject) => {
    const maps = {};
    const progs = {};
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      const [kind, name, id] = line.split(' ');
      if (kind === 'map') maps[name] = Number(id);
      else if (kind === 'prog') progs[name] = Number(id);
      else if (kind === 'ready') resolve({ maps, progs });
    });
    exited.then((code) => reject(new Error(`the libbpf loader exited with ${code}: ${stderr}`)));
  });
}

function mapDef(id) {
  const m = bpftool('map', 'show', 'id', id);
  return {
    name: m.name,
    type: m.type,
    key: m.bytes_key,
    value: m.bytes_value,
    max: m.max_entries,
    flags: m.flags,
    frozen: m.frozen ?? 0,
    btf: 'btf_id' in m,
  };
}

/** xlated instructions with map ids replaced by the map's name and subprogram tags removed. */
function xlated(id, mapNames) {
  const text = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(id)], { encoding: 'utf8' });
  return text
    .replace(/map\[id:(\d+)\]/g, (_, m) => `map[${mapNames.get(Number(m)) ?? `?${m}`}]`)
    .replace(/bpf_prog_[0-9a-f]{16}_/g, 'bpf_prog_')
    .replace(/#\d+$/gm, '') // helper addresses
    .split('\n')
    .filter((l) => !l.startsWith(';')) // source lines: compared separately
    .join('\n');
}

for (const [fixture, skip] of [
  ['maps', []],
  ['globals', ['odd', 'ksym_user']],
  ['core', []],
]) {
  test(`${fixture}: loadObject creates the maps libbpf creates and loads the same instructions`, async (t) => {
    ensureBpffs();
    const obj = buildObject(fixture);
    const root = `${BPFFS}/bpfmap_objects_${process.pid}_cmp_${fixture}`;
    mkdirSync(`${root}/a`, { recursive: true });
    mkdirSync(`${root}/b`, { recursive: true });
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const theirs = await libbpfLoad(t, obj, `${root}/a`, skip);
    const programs = Object.fromEntries(skip.map((p) => [p, { autoload: false }]));
    const ours = loadObject(obj, { pinPath: `${root}/b`, programs });
    t.after(() => ours.close());

    // Maps: libbpf's names (C names, and <obj>.rodata etc.) are ours.
    const libbpfNames = Object.keys(theirs.maps).sort();
    const ourKernelNames = Object.values(ours.maps)
      .map((m) => m.name)
      .sort();
    assert.deepEqual(ourKernelNames, libbpfNames.map((n) => n.slice(0, 15)).sort());
    const byKernelName = new Map(Object.values(ours.maps).map((m) => [m.name, m]));
    for (const [name, id] of Object.entries(theirs.maps)) {
      const mine = byKernelName.get(name.slice(0, 15));
      assert.deepEqual(mapDef(mine.id), mapDef(id), `map ${name}`);
    }

    // Programs: the same set, the same instructions.
    assert.deepEqual(Object.keys(ours.programs).sort(), Object.keys(theirs.progs).sort());
    const theirNames = new Map(Object.entries(theirs.maps).map(([n, id]) => [id, n.slice(0, 15)]));
    const ourNames = new Map(Object.values(ours.maps).map((m) => [m.id, m.name]));
    for (const [name, id] of Object.entries(theirs.progs)) {
      const mine = ours.programs[name];
      assert.equal(xlated(mine.id, ourNames), xlated(id, theirNames), `program ${name}`);
      const a = bpftool('prog', 'show', 'id', mine.id);
      const b = bpftool('prog', 'show', 'id', id);
      assert.equal(a.type, b.type, `program ${name} type`);
      assert.equal('btf_id' in a, 'btf_id' in b, `program ${name} has BTF in both loads`);
      assert.equal(a.bytes_xlated, b.bytes_xlated, `program ${name} size`);
    }
  });
}
