// Privilege: the suite's operations run as an unprivileged user (setpriv: uid 65534, no
// capabilities), then with CAP_BPF alone. Each refusal must say what is missing; everything that
// needs no privilege (codecs, the instruction builder, argument checks) must keep working.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('..', import.meta.url));

// uid 65534 may not be able to read the checkout (a clone in /root is mode 0700): the children run
// from a world-readable copy of what importing 'bpfmap' needs (package.json, dist/, the addon and
// node-gyp-build, which finds it).
const root = mkdtempSync(join(tmpdir(), 'bpfmap-privilege-'));
after(() => rmSync(root, { recursive: true, force: true }));
for (const part of ['package.json', 'dist', 'build/Release/bpfmap.node', 'prebuilds', 'node_modules/node-gyp-build']) {
  if (existsSync(join(here, part))) cpSync(join(here, part), join(root, part), { recursive: true });
}
for (const dir of [root, join(root, 'node_modules')]) chmodSync(dir, 0o755);
const BIN = join(root, 'dist/cli/bin.js');

function as(caps, args) {
  const r = spawnSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      `--inh-caps=${caps}`,
      `--ambient-caps=${caps}`,
      process.execPath,
      ...args,
    ],
    { encoding: 'utf8', cwd: root },
  );
  assert.equal(r.error, undefined, `setpriv: ${r.error}`);
  return r;
}

const SCRIPT = `
  import { Asm, BpfError, BpfMap, Btf, MapType, ProgType, R0, defineStruct, loadProgram, mapTypeBtf, possibleCpus, u32, u64 } from 'bpfmap';
  const out = {};
  const attempt = (name, fn) => {
    try { out[name] = { ok: fn() ?? true }; } catch (e) { out[name] = { error: e.message, code: e.code, cls: e.constructor.name }; }
  };
  attempt('create', () => { const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 }); m.updateInt(1, 7); const v = m.lookupInt(1); m.close(); return String(v); });
  attempt('fromId', () => BpfMap.fromId(1).close());
  attempt('loadProgram', () => loadProgram({ type: ProgType.SocketFilter, instructions: new Asm().mov64(R0, 0).exit() }).close());
  attempt('btf', () => Btf.load(mapTypeBtf(u32, u64, 4, 8).blob).close());
  // What needs no privilege.
  const s = defineStruct('s', { a: 'u32', b: 'u64' });
  attempt('codecs', () => { const r = s.decode(s.encode({ a: 1, b: 2n })); return r.a + ',' + r.b; });
  attempt('asm', () => new Asm().mov64(R0, 1).exit().build().length);
  attempt('validation', () => BpfMap.create({ type: MapType.Hash, keySize: -1, valueSize: 8, maxEntries: 1 }));
  attempt('cpus', () => possibleCpus());
  console.log(JSON.stringify(out));
`;

test('with no capabilities: each refusal says what is missing; the rest keeps working', () => {
  const r = as('-all', ['--input-type=module', '-e', SCRIPT]);
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.create.code, 'EPERM');
  assert.match(o.create.error, /needs root or CAP_BPF.*unprivileged_bpf_disabled/);
  assert.equal(o.fromId.code, 'EPERM');
  assert.match(o.fromId.error, /needs CAP_SYS_ADMIN/);
  assert.equal(o.loadProgram.code, 'EPERM');
  assert.match(o.loadProgram.error, /needs CAP_BPF/);
  assert.equal(o.btf.code, 'EPERM');
  assert.match(o.btf.error, /needs CAP_BPF or CAP_SYS_ADMIN/);
  assert.deepEqual(o.codecs, { ok: '1,2' });
  assert.equal(o.asm.ok, 16);
  assert.equal(o.validation.cls, 'RangeError', 'argument checks come before the kernel, privileged or not');
  assert.ok(o.cpus.ok >= 1);
  const cli = as('-all', [BIN, 'list']);
  assert.equal(cli.status, 1);
  assert.equal(cli.stderr, 'bpfmap: BPF_MAP_GET_NEXT_ID: EPERM (listing maps needs CAP_SYS_ADMIN)\n');
});

test('with CAP_BPF alone: maps work, and what still needs CAP_SYS_ADMIN says so', () => {
  const r = as('+bpf', ['--input-type=module', '-e', SCRIPT]);
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.deepEqual(o.create, { ok: '7' });
  assert.equal(o.fromId.code, 'EPERM');
  assert.match(o.fromId.error, /needs CAP_SYS_ADMIN/);
  assert.equal(o.btf.ok, true, 'BTF loads with CAP_BPF');
  assert.equal(o.loadProgram.ok, true, 'a socket filter loads with CAP_BPF');
});
