// The addon's memory safety when what sits behind an fd number changes, when a read-only mapping is
// written to, when the addon is called with hostile arguments, when two copies of the package share
// one process, and when fds run out. Each scenario runs in a child process (a crash is a failure,
// not a lost test run), with the normal addon and again with the AddressSanitizer build.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pinPath } from './helpers/kernel.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const asanAddon = join(root, 'build-asan/build/Release/bpfmap.node');
let asanEnv;

/** Builds the ASan addon when it is missing or older than the C source, and the env that loads it. */
function asan() {
  if (asanEnv) return asanEnv;
  const src = statSync(join(root, 'native/bpfmap.c')).mtimeMs;
  if (!existsSync(asanAddon) || statSync(asanAddon).mtimeMs < src)
    execFileSync('npm', ['run', '--silent', 'build:asan'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  assert.ok(libasan.startsWith('/'), `libasan found (${libasan})`);
  asanEnv = { LD_PRELOAD: libasan, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', BPFMAP_ADDON: asanAddon };
  return asanEnv;
}

/**
 * Runs an ES module `script` (from the package root, so it can import 'bpfmap') in a fresh node,
 * optionally under ASan, and returns the JSON its last output line prints. The child must exit 0.
 */
function child(script, { sanitized = false, args = [], shell } = {}) {
  const env = { ...process.env, ...(sanitized ? asan() : {}) };
  const argv = [...args, '--input-type=module', '-e', script];
  const r = shell
    ? spawnSync('bash', ['-c', `${shell} && exec "$0" "$@"`, process.execPath, ...argv], {
        encoding: 'utf8',
        env,
        cwd: root,
        timeout: 120_000,
      })
    : spawnSync(process.execPath, argv, { encoding: 'utf8', env, cwd: root, timeout: 120_000 });
  const tail = `\nstdout: ${r.stdout.slice(-1500)}\nstderr: ${r.stderr.slice(-3000)}`;
  assert.equal(r.signal, null, `the child was killed by ${r.signal}${tail}`);
  assert.equal(r.status, 0, `the child failed${tail}`);
  if (sanitized) assert.doesNotMatch(r.stderr, /AddressSanitizer/, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
  console.log(`# ${sanitized ? '(ASan) ' : ''}${JSON.stringify(out)}`);
  return out;
}

const builds = [
  ['normal addon', false],
  ['ASan addon', true],
];

/** Script prelude: helpers the child scripts share. */
const PRELUDE = `
  import { BpfMap, BpfError, MapType, bpfMapLookupBatch, bpfMapUpdateBatch } from 'bpfmap';
  import { closeSync, readdirSync, readlinkSync } from 'node:fs';
  const u32 = (n) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return b; };
  const fill = (n, byte) => new Uint8Array(n).fill(byte);
  const outcome = (f) => { try { const r = f(); return r === undefined ? 'undefined' : r instanceof Uint8Array ? 'bytes ' + r[0] : String(r); } catch (e) { return e instanceof BpfError ? e.code : e.name + ': ' + e.message; } };
  const mapFds = () => readdirSync('/proc/self/fd').filter((f) => { try { return readlinkSync('/proc/self/fd/' + f) === 'anon_inode:bpf-map'; } catch { return false; } }).length;
`;

for (const [label, sanitized] of builds) {
  describe(`fd numbers that change owner (${label})`, () => {
    test('fromFd() wraps its own duplicate: closing it leaves the original working, and a map with 128 KiB values cannot take the number', () => {
      const out = child(
        `${PRELUDE}
        const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
        m.update(u32(1), fill(8, 7));
        const w = BpfMap.fromFd(m.fd);
        const distinct = w.fd !== m.fd && w.id === m.id;
        w.close();
        const big = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 131072, maxEntries: 1 });
        const stolen = big.fd === m.fd;
        const lookup = outcome(() => m.lookup(u32(1)));
        const upd = outcome(() => m.update(u32(1), fill(8, 9)));
        const after = outcome(() => m.lookup(u32(1)));
        const bigValue = big.lookup(u32(0));
        console.log(JSON.stringify({ distinct, stolen, lookup, upd, after, bigZero: bigValue.every((b) => b === 0), mOpen: !m.closed }));`,
        { sanitized },
      );
      assert.equal(out.distinct, true, 'the wrapper has its own fd for the same map');
      assert.equal(out.stolen, false, "the new map did not get the original's fd number");
      assert.equal(out.lookup, 'bytes 7');
      assert.equal(out.upd, 'undefined');
      assert.equal(out.after, 'bytes 9');
      assert.equal(out.bigZero, true, 'the other map is untouched');
      assert.equal(out.mOpen, true);
    });

    test('a dropped fromFd() wrapper collected by the GC does not close the original fd', () => {
      const out = child(
        `${PRELUDE}
        const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
        m.update(u32(1), fill(8, 7));
        (() => { for (let i = 0; i < 20; i++) BpfMap.fromFd(m.fd); })();
        for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
        const bigs = [];
        for (let i = 0; i < 4; i++) bigs.push(BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 131072, maxEntries: 1 }));
        const lookup = outcome(() => m.lookup(u32(1)));
        const upd = outcome(() => m.update(u32(1), fill(8, 9)));
        const after = outcome(() => m.lookup(u32(1)));
        console.log(JSON.stringify({ lookup, upd, after, stolen: bigs.some((b) => b.fd === m.fd), bigZero: bigs.every((b) => b.lookup(u32(0)).every((x) => x === 0)) }));`,
        { sanitized, args: ['--expose-gc'] },
      );
      assert.equal(out.stolen, false, "no new map got the original's fd number");
      assert.equal(out.lookup, 'bytes 7');
      assert.equal(out.upd, 'undefined');
      assert.equal(out.after, 'bytes 9');
      assert.equal(out.bigZero, true);
    });

    test('an fd closed behind the library and taken by a map with larger values: EFAULT, never a copy past a buffer', () => {
      const out = child(
        `${PRELUDE}
        const res = {};
        // Through the call block: 8-byte values, then a map with 128 KiB values takes the number.
        {
          const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
          const fd = m.fd;
          closeSync(fd);
          const big = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 131072, maxEntries: 1 });
          res.block = { same: big.fd === fd, lookup: outcome(() => m.lookup(u32(0))), update: outcome(() => m.update(u32(0), fill(8, 9))), delete: outcome(() => m.delete(u32(0))) };
          const out = new Uint8Array(8);
          res.block.lookupOut = outcome(() => m.lookup(u32(0), { out }));
          res.block.bigZero = big.lookup(u32(0)).every((b) => b === 0);
        }
        // Values beyond the call block (handed to the kernel from JavaScript buffers): 70,000 bytes, then 140,000.
        {
          const m = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 70000, maxEntries: 1 });
          const fd = m.fd;
          closeSync(fd);
          const big = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 140000, maxEntries: 1 });
          big.update(u32(0), fill(140000, 5));
          // 'out' is a view at the start of a larger buffer: the bytes after it must stay as they were.
          const whole = fill(200000, 0xee);
          const out = whole.subarray(0, 70000);
          const lookup = outcome(() => m.lookup(u32(0), { out }));
          const canary = whole.subarray(70000).every((b) => b === 0xee);
          const src = fill(200000, 0xcc);
          const update = outcome(() => m.update(u32(0), src.subarray(0, 70000)));
          const got = big.lookup(u32(0));
          res.elem = { same: big.fd === fd, lookup, canary, update, bigKept: got.every((b) => b === 5) };
        }
        // A batch with caller buffers sized for the old map.
        {
          const m = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 });
          const fd = m.fd;
          closeSync(fd);
          const big = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 4096, maxEntries: 4 });
          for (let i = 0; i < 4; i++) big.update(u32(i), fill(4096, 3));
          const keys = fill(4096, 0xee);
          const values = fill(65536, 0xee);
          const outBatch = fill(8, 0);
          const lookup = outcome(() => bpfMapLookupBatch(m, null, outBatch.subarray(0, 4), keys.subarray(0, 16), values.subarray(0, 32), 4).count);
          const canary = keys.subarray(16).every((b) => b === 0xee) && values.subarray(32).every((b) => b === 0xee);
          const src = fill(65536, 0xcc);
          const update = outcome(() => bpfMapUpdateBatch(m, fill(16, 0).subarray(0, 16), src.subarray(0, 32), 4));
          const got = big.lookup(u32(0));
          res.batch = { same: big.fd === fd, lookup, canary, update, bigKept: got.every((b) => b === 3) };
        }
        console.log(JSON.stringify(res));`,
        { sanitized },
      );
      assert.equal(out.block.same, true, 'the new map took the closed number');
      for (const op of ['lookup', 'update', 'lookupOut']) assert.equal(out.block[op], 'EFAULT', `call block ${op}`);
      assert.equal(out.block.bigZero, true, 'nothing was stored in the other map');
      assert.equal(out.elem.same, true);
      assert.equal(out.elem.lookup, 'EFAULT');
      assert.equal(out.elem.canary, true, 'the kernel wrote nothing past the caller buffer');
      assert.equal(out.elem.update, 'EFAULT');
      assert.equal(out.elem.bigKept, true, 'no bytes past the caller buffer reached the other map');
      assert.equal(out.batch.same, true);
      assert.equal(out.batch.lookup, 'EFAULT');
      assert.equal(out.batch.canary, true, 'the kernel wrote nothing past the batch buffers');
      assert.equal(out.batch.update, 'EFAULT');
      assert.equal(out.batch.bigKept, true);
    });
  });

  test(`writing to a read-only mmap() view cannot crash the process, and changes nothing (${label})`, () => {
    const out = child(
      `${PRELUDE}
      const m = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4, flags: 1024 });
      m.update(u32(1), fill(8, 7));
      m.freeze();
      const v = m.mmap({ writable: false });
      const tries = [];
      const attempt = (name, f) => { try { f(); tries.push(name + ': ok'); } catch (e) { tries.push(name + ': ' + e.name); } };
      attempt('index', () => { v[8] = 1; });
      attempt('set', () => v.set(fill(8, 1), 8));
      attempt('fill', () => v.fill(1));
      attempt('copyWithin', () => v.copyWithin(8, 0, 8));
      attempt('buffer', () => { new Uint8Array(v.buffer)[8] = 1; });
      attempt('dataview', () => new DataView(v.buffer).setUint8(8, 1));
      attempt('slice', () => { v.slice(0, 16)[8] = 1; });
      attempt('copy', () => { v.copy(8, 16)[0] = 1; });
      attempt('subarray', () => { v.subarray(0, 16)[8] = 1; });
      attempt('atomics', () => Atomics.store(v, 8, 1));
      const read = Array.from(v.slice ? v.slice(8, 16) : v.copy(8, 16));
      const direct = v.getUint8 ? v.getUint8(8) : undefined;
      BpfMap.unmap(v);
      console.log(JSON.stringify({ tries, read, direct, value: Array.from(m.lookup(u32(1))) }));`,
      { sanitized },
    );
    assert.deepEqual(out.read, [7, 7, 7, 7, 7, 7, 7, 7], 'the view reads the live value');
    assert.equal(out.direct, 7);
    assert.deepEqual(out.value, [7, 7, 7, 7, 7, 7, 7, 7], 'the map is unchanged');
  });

  test(`the addon checks lengths and argument counts before reading (${label})`, () => {
    const out = child(
      `
      import { createRequire } from 'node:module';
      const require = createRequire(process.cwd() + '/');
      const addon = require(process.env.BPFMAP_ADDON || './build/Release/bpfmap.node');
      const { readFileSync } = require('node:fs');
      const res = {};
      const run = (f) => { try { return f(); } catch (e) { return e.name; } };
      res.perf2 = run(() => addon.perfEventOpen(new Uint8Array(2), -1, 0, -1, 0));
      res.perf0 = run(() => addon.perfEventOpen(new Uint8Array(0), -1, 0, -1, 0));
      res.perfHuge = run(() => { const a = new Uint8Array(8); a[4] = 0xff; a[5] = 0xff; return addon.perfEventOpen(a, -1, 0, -1, 0); });
      // the 6th argument: a NUL-terminated string whose address (of a copy) goes into attr.config1
      const probeAttr = (len, size = 72) => {
        const a = new Uint8Array(len);
        const v = new DataView(a.buffer);
        v.setUint32(0, Number(readFileSync('/sys/bus/event_source/devices/uprobe/type', 'utf8')), true);
        v.setUint32(4, size, true);
        return a;
      };
      const cstr = (s) => new TextEncoder().encode(s + String.fromCharCode(0));
      res.nameOk = run(() => addon.perfEventOpen(probeAttr(72), -1, 0, -1, 8, cstr('/nonexistent/bpfmap-61')));
      res.nameNull = run(() => addon.perfEventOpen(probeAttr(72), -1, 0, -1, 8, null));
      res.nameNoNul = run(() => addon.perfEventOpen(probeAttr(72), -1, 0, -1, 8, new TextEncoder().encode('/bin/true')));
      res.nameEmpty = run(() => addon.perfEventOpen(probeAttr(72), -1, 0, -1, 8, new Uint8Array(0)));
      const detached = cstr('/bin/true');
      structuredClone(detached.buffer, { transfer: [detached.buffer] });
      res.nameDetached = run(() => addon.perfEventOpen(probeAttr(72), -1, 0, -1, 8, detached));
      res.nameShortAttr = run(() => addon.perfEventOpen(probeAttr(16, 8), -1, 0, -1, 8, cstr('/bin/true')));
      res.nameAttr63 = run(() => addon.perfEventOpen(probeAttr(63, 8), -1, 0, -1, 8, cstr('/bin/true')));
      // without a name, config1 of a dynamic PMU must be 0: an address the caller made never reaches the kernel
      // (the start of node's own first mapping: readable, so an addon that let it through gets ENOENT for the "path" "\x7fELF…")
      const mapped = BigInt('0x' + readFileSync('/proc/self/maps', 'utf8').split('-')[0]);
      res.noNameConfig1 = run(() => { const a = probeAttr(72); new DataView(a.buffer).setBigUint64(56, mapped, true); return addon.perfEventOpen(a, -1, 0, -1, 8); });
      res.attrTooBig = run(() => addon.perfEventOpen(probeAttr(1024, 1024), -1, 0, -1, 8, cstr('/bin/true')));
      res.nameString = run(() => addon.perfEventOpen(probeAttr(72), -1, 0, -1, 8, '/bin/true'));
      res.nameU16 = run(() => addon.perfEventOpen(probeAttr(72), -1, 0, -1, 8, new Uint16Array(4)));
      res.nameExtra = run(() => addon.perfEventOpen(probeAttr(72), -1, 0, -1, 8, cstr('/bin/true'), 0));
      const attr = new Uint8Array(32);
      const many = [];
      for (let i = 0; i < 40; i++) many.push(0, null, 0);
      res.bpfMany = run(() => addon.bpf(0, attr, ...many));
      const nested = [];
      for (let i = 0; i < 40; i++) nested.push(attr, 0, null, 0);
      res.nestedMany = run(() => addon.bpfNested(0, attr, ...nested));
      res.elemMany = run(() => addon.elem(1, -1, null, 0, null, 0, 0, 0, 0, 0, 0, 0));
      res.mmapMany = run(() => addon.mmap(-1, 4096, 0, false, 1, 2, 3, 4, 5, 6));
      res.closeMany = run(() => addon.close(-1, 1, 2, 3));
      console.log(JSON.stringify(res));`,
      { sanitized },
    );
    assert.equal(out.perf2, -14, 'a 2-byte attr is EFAULT');
    assert.equal(out.perf0, -14);
    assert.equal(out.perfHuge, -14, 'attr.size larger than the buffer is EFAULT');
    assert.equal(out.nameOk, -2, 'the path reaches the uprobe PMU through config1 (ENOENT: no such file)');
    assert.equal(out.nameNull, -22, 'a null name leaves config1 0 (EINVAL: the uprobe PMU needs a path)');
    assert.equal(out.nameNoNul, -14, 'a name that does not end in NUL is EFAULT');
    assert.equal(out.nameEmpty, -14, 'an empty name is EFAULT');
    assert.equal(out.nameDetached, -14, 'a detached name is EFAULT');
    assert.equal(out.nameShortAttr, -14, 'no room for config1 in a 16-byte attr: EFAULT, nothing written past it');
    assert.equal(out.nameAttr63, -14);
    assert.equal(out.noNameConfig1, -14, 'a caller-made config1 for the uprobe PMU is EFAULT, not read as a string');
    assert.equal(out.attrTooBig, -7, 'attr.size past the 512 bytes the addon copies is E2BIG');
    assert.equal(out.nameString, 'TypeError', 'the name must be a Uint8Array');
    assert.equal(out.nameU16, 'TypeError');
    assert.equal(out.nameExtra, 'TypeError', 'a 7th argument');
    assert.equal(out.bpfMany, 'TypeError', 'more pointer arguments than the addon takes');
    assert.equal(out.nestedMany, 'TypeError');
    assert.equal(out.elemMany, 'TypeError');
    assert.equal(out.mmapMany, 'TypeError');
    assert.equal(out.closeMany, 'TypeError');
  });
}

describe('two copies of the package in one process', () => {
  let dir;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bpfmap-copies-'));
    const addon = join(dir, 'bpfmap.node');
    cpSync(join(root, 'build/Release/bpfmap.node'), addon);
    for (const copy of ['a', 'b']) {
      const pkg = join(dir, copy, 'node_modules', 'bpfmap');
      mkdirSync(join(pkg, 'build/Release'), { recursive: true });
      cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
      linkSync(addon, join(pkg, 'build/Release/bpfmap.node')); // one inode, as a pnpm store gives
    }
    writeFileSync(join(dir, 'README'), 'bpfmap test: two package copies sharing one addon file\n');
  });

  test('their element operations, interleaved, each reach their own maps', (t) => {
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal(
      statSync(join(dir, 'a/node_modules/bpfmap/build/Release/bpfmap.node')).ino,
      statSync(join(dir, 'b/node_modules/bpfmap/build/Release/bpfmap.node')).ino,
    );
    const env = { ...process.env };
    delete env.BPFMAP_ADDON;
    const script = `
      const A = await import(${JSON.stringify(`file://${dir}/a/node_modules/bpfmap/dist/index.js`)});
      const B = await import(${JSON.stringify(`file://${dir}/b/node_modules/bpfmap/dist/index.js`)});
      const u32 = (n) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return b; };
      const opts = { type: A.MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 64 };
      const a = A.BpfMap.create(opts);
      const b = B.BpfMap.create(opts);
      const log = [];
      for (let i = 0; i < 32; i++) {
        a.update(u32(i), u32(1000 + i));
        b.update(u32(i), u32(2000 + i));
      }
      for (let i = 0; i < 32; i += 2) log.push(a.delete(u32(i)), b.delete(u32(i + 1)));
      const read = (m, i) => { const v = m.lookup(u32(i)); return v === undefined ? null : new DataView(v.buffer, v.byteOffset).getUint32(0, true); };
      const aVals = [], bVals = [];
      for (let i = 0; i < 32; i++) { aVals.push(read(a, i)); bVals.push(read(b, i)); }
      // Cross-check through the other copy's fromId(): the kernel's view of each map.
      const aSeen = B.BpfMap.fromId(a.id), bSeen = A.BpfMap.fromId(b.id);
      const aKeys = [...aSeen.keys()].length, bKeys = [...bSeen.keys()].length;
      console.log(JSON.stringify({ deletes: log.every(Boolean), aVals, bVals, aKeys, bKeys }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env,
      cwd: dir,
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
    assert.equal(out.deletes, true, 'every delete found its key');
    assert.deepEqual(
      out.aVals,
      Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? null : 1000 + i)),
    );
    assert.deepEqual(
      out.bVals,
      Array.from({ length: 32 }, (_, i) => (i % 2 === 1 ? null : 2000 + i)),
    );
    assert.equal(out.aKeys, 16);
    assert.equal(out.bKeys, 16);
  });
});

for (const [label, sanitized] of builds) {
  test(`map creation and opening with one fd left: BpfError EMFILE or success, and no fd leaked (${label})`, (t) => {
    const pin = pinPath(t, `emfile_${sanitized ? 'asan' : 'plain'}`);
    execFileSync('bpftool', [
      'map',
      'create',
      pin,
      'type',
      'percpu_array',
      'key',
      '4',
      'value',
      '8',
      'entries',
      '4',
      'name',
      'emfile',
    ]);
    const out = child(
      `${PRELUDE}
      import { openSync } from 'node:fs';
      const before = mapFds();
      const fillers = [];
      try { for (;;) fillers.push(openSync('/dev/null', 'r')); } catch {}
      const results = {};
      const withFree = (n, name, f) => {
        for (let i = 0; i < n; i++) closeSync(fillers.pop());
        results[name] = outcome(() => { const m = f(); const cpus = m.valueBufferSize; m.close(); return 'ok ' + (cpus > 0); });
        for (let i = 0; i < n; i++) try { fillers.push(openSync('/dev/null', 'r')); } catch {} // fails when an fd leaked
      };
      // First, while the possible CPUs are not known yet: the map's fd, then the file that counts CPUs.
      withFree(1, 'openPinned', () => BpfMap.openPinned(${JSON.stringify(pin)}));
      withFree(1, 'createPercpu', () => BpfMap.create({ type: MapType.PercpuArray, keySize: 4, valueSize: 8, maxEntries: 4 }));
      withFree(0, 'createNoFd', () => BpfMap.create({ type: MapType.PercpuHash, keySize: 4, valueSize: 8, maxEntries: 4 }));
      withFree(1, 'openPinnedAgain', () => BpfMap.openPinned(${JSON.stringify(pin)}));
      for (const f of fillers) closeSync(f);
      console.log(JSON.stringify({ results, leaked: mapFds() - before }));`,
      { sanitized, shell: 'ulimit -n 64' },
    );
    assert.equal(out.results.openPinned, 'EMFILE', 'a BpfError, not a raw fs Error, and the opened fd closed');
    assert.equal(out.results.createPercpu, 'ok true', 'the CPUs are counted before the map takes the last fd');
    assert.equal(out.results.createNoFd, 'EMFILE');
    assert.equal(out.results.openPinnedAgain, 'ok true');
    assert.equal(out.leaked, 0, 'no map fd left open');
  });
}
