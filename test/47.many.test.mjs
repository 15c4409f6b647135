// lookupMany (API.md §13): many keys per kernel entry through a per-map syscall program, and its
// element-path fallback; both must give what `lookup` gives, key by key.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { BpfError, BpfMap, MapType, lpmKey, possibleCpus } from 'bpfmap';
import { gcChild, openFdCount, pinPath, tmpMap, u32 } from './helpers/kernel.mjs';

const CI = process.env.CI === 'true';

/** How many BPF programs this process holds fds of. */
function progFds() {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:bpf-prog') n++;
    } catch {}
  }
  return n;
}

/** Skips (fails in CI) when the kernel loop was not used: `before`/`after` are program fd counts. */
function requireKernelLoop(t, before, after) {
  if (after > before) return true;
  const why = 'the kernel refused the lookupMany program (NODE_DEBUG=bpfmap says why)';
  if (CI) assert.fail(why);
  t.skip(why);
  return false;
}

/** What `lookup` gives for each key, laid out as lookupMany lays it out. */
function elementResults(map, keys) {
  const n = keys.length / map.keySize;
  const vs = map.valueBufferSize;
  const values = new Uint8Array(n * vs);
  const found = new Uint8Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = map.lookup(keys.subarray(i * map.keySize, (i + 1) * map.keySize));
    if (v === undefined) continue;
    found[i] = 1;
    count++;
    if (Array.isArray(v)) {
      const stride = (map.valueSize + 7) & ~7;
      v.forEach((slot, c) => {
        values.set(slot, c * stride + i * vs);
      });
    } else values.set(v, i * vs);
  }
  return { count, found, values };
}

/** n random u32 keys below `range`. */
function randomKeys(n, range) {
  const keys = new Uint8Array(n * 4);
  const dv = new DataView(keys.buffer);
  for (let i = 0; i < n; i++) dv.setUint32(i * 4, Math.floor(Math.random() * range), true);
  return keys;
}

/** A value of `size` bytes derived from key `k` (per-CPU: one per CPU, different each). */
function valueFor(map, k) {
  const one = (c) => Uint8Array.from({ length: map.valueSize }, (_, j) => (k * 31 + j * 7 + c * 101 + 1) & 0xff);
  return map.isPerCpu ? Array.from({ length: possibleCpus() }, (_, c) => one(c)) : one(0);
}

const TYPES = [
  ['hash', MapType.Hash],
  ['percpu hash', MapType.PercpuHash],
  ['LRU hash', MapType.LruHash],
  ['LRU per-CPU hash', MapType.LruPercpuHash],
  ['array', MapType.Array],
  ['percpu array', MapType.PercpuArray],
];

for (const [name, type] of TYPES) {
  for (const valueSize of [8, 13]) {
    test(`lookupMany on a ${name} (value ${valueSize} bytes) equals lookup key by key, present and absent`, (t) => {
      const m = tmpMap(t, { type, keySize: 4, valueSize, maxEntries: 4000 });
      for (let k = 0; k < 4000; k += 3) m.update(u32(k), valueFor(m, k));
      const keys = randomKeys(5000, 8000); // half beyond the map: absent (arrays: out of range)
      const before = progFds();
      const got = m.lookupMany(keys);
      if (!requireKernelLoop(t, before, progFds())) return;
      const want = elementResults(m, keys);
      assert.equal(got.count, want.count);
      assert.ok(want.count > 0 && want.count < 5000, 'both present and absent keys');
      assert.deepEqual(got.found, want.found);
      assert.deepEqual(got.values, want.values);
      // Given buffers are filled and returned; a second call reuses the loaded program.
      const values = new Uint8Array((keys.length / 4) * m.valueBufferSize).fill(0xee);
      const found = new Uint8Array(keys.length / 4).fill(7);
      const again = m.lookupMany(keys, { values, found });
      assert.equal(again.values, values);
      assert.equal(again.found, found);
      assert.deepEqual(values, want.values, 'absent slots are zeroed');
      assert.deepEqual(found, want.found);
      m.close();
      assert.equal(progFds(), before, 'close() released the program');
    });
  }
}

test('lookupMany runs several chunks when the keys outgrow the scratch, and grows it', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 8, valueSize: 4096, maxEntries: 3000 });
  const key = (k) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(k) * 0x1_0000_0001n, true);
    return b;
  };
  const val = (k) => new Uint8Array(4096).fill(k & 0xff).fill(7, 0, k % 4096);
  for (let k = 0; k < 3000; k += 2) m.update(key(k), val(k));
  const small = new Uint8Array(16);
  small.set(key(0), 0);
  small.set(key(1), 8);
  const before = progFds();
  assert.deepEqual([...m.lookupMany(small).found], [1, 0]);
  if (!requireKernelLoop(t, before, progFds())) return;
  const keys = new Uint8Array(3000 * 8);
  for (let i = 0; i < 3000; i++) keys.set(key(2999 - i), i * 8);
  const got = m.lookupMany(keys); // ~1000 records per 4 MiB scratch: three chunks
  const want = elementResults(m, keys);
  assert.equal(got.count, 1500);
  assert.deepEqual(got.found, want.found);
  assert.ok(Buffer.from(got.values).equals(Buffer.from(want.values)));
});

for (const forced of [false, true])
  test(`keys sharing a buffer with values are read before anything is written (${forced ? 'element path' : 'kernel loop'})`, (t) => {
    if (forced) process.env.BPFMAP_KERNEL_LOOP = '0';
    try {
      const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 16 });
      for (let k = 0; k < 8; k++) m.update(u32(k), new Uint8Array(8).fill(k + 100));
      const buf = new Uint8Array(8 * 8); // keys in the first half; values 1..7 overwrite keys 2..7
      for (let i = 0; i < 8; i++) buf.set(u32(7 - i), i * 4);
      const keys = buf.slice(0, 32);
      const got = m.lookupMany(buf.subarray(0, 32), { values: buf });
      assert.deepEqual(got.values, elementResults(m, keys).values);
    } finally {
      delete process.env.BPFMAP_KERNEL_LOOP;
    }
  });

test('the forced element path (BPFMAP_KERNEL_LOOP=0) gives the same results and loads no program', (t) => {
  const kernel = tmpMap(t, { type: MapType.PercpuHash, keySize: 4, valueSize: 12, maxEntries: 1000 });
  for (let k = 0; k < 1000; k += 2) kernel.update(u32(k), valueFor(kernel, k));
  const keys = randomKeys(3000, 2000);
  const before = progFds();
  const viaLoop = kernel.lookupMany(keys);
  if (!requireKernelLoop(t, before, progFds())) return;
  process.env.BPFMAP_KERNEL_LOOP = '0';
  try {
    const forced = tmpMap(t, { type: MapType.PercpuHash, keySize: 4, valueSize: 12, maxEntries: 1000 });
    for (let k = 0; k < 1000; k += 2) forced.update(u32(k), valueFor(forced, k));
    const fds = progFds();
    const viaElements = forced.lookupMany(keys);
    assert.equal(progFds(), fds, 'no program was loaded');
    assert.deepEqual(viaElements, viaLoop);
  } finally {
    delete process.env.BPFMAP_KERNEL_LOOP;
  }
});

test('map types a sleepable program cannot use take the element path with the same results (LPM trie)', (t) => {
  const m = tmpMap(t, { type: MapType.LpmTrie, keySize: 8, valueSize: 4, maxEntries: 16, flags: 1 });
  m.update(lpmKey(24, [10, 0, 0, 0]), u32(24));
  m.update(lpmKey(16, [10, 1, 0, 0]), u32(16));
  const keys = new Uint8Array(3 * 8);
  keys.set(lpmKey(32, [10, 0, 0, 9]), 0);
  keys.set(lpmKey(32, [10, 1, 2, 3]), 8);
  keys.set(lpmKey(32, [11, 0, 0, 1]), 16);
  const got = m.lookupMany(keys);
  assert.deepEqual(got, elementResults(m, keys));
  assert.deepEqual([...got.found], [1, 1, 0]);
});

test('lookupMany checks its arguments like the element methods, EBADF first once closed', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
  assert.throws(() => m.lookupMany('abcd'), TypeError);
  assert.throws(() => m.lookupMany([1, 2, 3, 4]), TypeError);
  assert.throws(
    () => m.lookupMany(new Uint8Array(6)),
    (e) => e instanceof RangeError && /multiple of the key size/.test(e.message),
  );
  assert.throws(() => m.lookupMany(new Uint8Array(0)), RangeError);
  assert.throws(
    () => m.lookupMany(new Uint8Array(8), { values: new Uint8Array(15) }),
    (e) => e instanceof RangeError && /values must be 16 bytes/.test(e.message),
  );
  assert.throws(
    () => m.lookupMany(new Uint8Array(8), { found: new Uint8Array(3) }),
    (e) => e instanceof RangeError && /found must be 2 bytes/.test(e.message),
  );
  assert.throws(() => m.lookupMany(new Uint8Array(8), { values: 'x' }), TypeError);
  const detached = new Uint8Array(8);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  assert.throws(() => m.lookupMany(detached), TypeError);
  // Options are read once, before the checks.
  let reads = 0;
  const opts = {
    get values() {
      reads++;
      return new Uint8Array(16);
    },
  };
  m.lookupMany(new Uint8Array(8), opts);
  assert.equal(reads, 1);
  const q = tmpMap(t, { type: MapType.Queue, keySize: 0, valueSize: 4, maxEntries: 4 });
  assert.throws(() => q.lookupMany(new Uint8Array(4)), TypeError);
  m.close();
  assert.throws(
    () => m.lookupMany(new Uint8Array(6)),
    (e) => BpfError.is(e, 'EBADF'),
  );
  assert.throws(
    () => m.lookupMany(new Uint8Array(8)),
    (e) => BpfError.is(e, 'EBADF'),
  );
});

test('a write-only fd refuses lookupMany as it refuses lookup (EPERM): the program does not bypass it', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
  m.update(u32(1), u32(2));
  const path = pinPath(t, 'many_wronly');
  m.pin(path);
  const w = BpfMap.openPinned(path, { writeOnly: true });
  t.after(() => w.close());
  assert.throws(
    () => w.lookup(u32(1)),
    (e) => BpfError.is(e, 'EPERM'),
  );
  const keys = new Uint8Array(8);
  keys.set(u32(1), 0);
  keys.set(u32(2), 4);
  assert.throws(
    () => w.lookupMany(keys),
    (e) => BpfError.is(e, 'EPERM'),
  );
});

test('lookupMany under a concurrent writer: every value found is one the writer stored for that key', async (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4096 });
  for (let k = 0; k < 1000; k++) m.update(u32(k), new Uint8Array([...u32(k), ...u32(0)]));
  const path = pinPath(t, 'many_churn');
  m.pin(path);
  // The writer stores [key, generation] under keys 1000..2999, deleting half of them as it goes.
  const script = `
    import { BpfMap } from 'bpfmap';
    const map = BpfMap.openPinned(${JSON.stringify(path)});
    const k = new Uint8Array(4), v = new Uint8Array(8), kv = new DataView(k.buffer), vv = new DataView(v.buffer);
    process.stdout.write('ready\\n');
    for (let i = 0; ; i++) {
      const key = 1000 + (i % 2000);
      kv.setUint32(0, key, true);
      if ((i >> 11) % 2 === 0) { vv.setUint32(0, key, true); vv.setUint32(4, i, true); map.update(k, v); }
      else map.delete(k);
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  await once(child.stdout, 'data');
  const keys = new Uint8Array(3000 * 4);
  for (let i = 0; i < 3000; i++) keys.set(u32(i), i * 4);
  const before = progFds();
  let churnFound = 0;
  let churnAbsent = 0;
  for (let pass = 0; pass < 200; pass++) {
    const r = m.lookupMany(keys);
    if (pass === 0 && !requireKernelLoop(t, before, progFds())) return;
    const dv = new DataView(r.values.buffer);
    let count = 0;
    for (let i = 0; i < 3000; i++) {
      if (r.found[i] === 0) {
        assert.ok(i >= 1000, `stable key ${i} missing`);
        assert.equal(dv.getBigUint64(i * 8, true), 0n, 'absent slot zeroed');
        churnAbsent++;
        continue;
      }
      count++;
      assert.equal(dv.getUint32(i * 8, true), i, `key ${i} carries another key's value`);
      if (i >= 1000) churnFound++;
    }
    assert.equal(r.count, count);
    await new Promise((res) => setImmediate(res));
  }
  assert.ok(churnFound > 0 && churnAbsent > 0, 'the writer was seen adding and deleting');
});

test('maps with loaded loops release every fd on close and on collection', () => {
  const before = openFdCount();
  for (let i = 0; i < 100; i++) {
    const m = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 16 });
    m.lookupMany(new Uint8Array(64));
    for (const _ of m.chunks());
    m.close();
  }
  assert.equal(openFdCount(), before, 'close() released the program and the scratch');
  const figures = gcChild(`
    import { readdirSync } from 'node:fs';
    import { BpfMap, MapType } from 'bpfmap';
    const fds = () => readdirSync('/proc/self/fd').length;
    const run = () => { const m = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 16 }); m.lookupMany(new Uint8Array(64)); for (const _ of m.chunks()); };
    run();
    for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
    const before = fds();
    for (let i = 0; i < 300; i++) run();
    for (let i = 0; i < 20; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
    console.log(JSON.stringify({ before, after: fds() }));
  `);
  assert.ok(figures.after <= figures.before + 3, `collected maps leaked fds: ${figures.before} → ${figures.after}`);
});

test('FakeMap.lookupMany gives what BpfMap.lookupMany gives, errors included', async (t) => {
  const { FakeMap } = await import('bpfmap/testing');
  for (const [, type] of TYPES) {
    const opts = { type, keySize: 4, valueSize: 12, maxEntries: 64 };
    const real = tmpMap(t, opts);
    const fake = FakeMap.create(opts);
    for (let k = 0; k < 64; k += 3) {
      real.update(u32(k), valueFor(real, k));
      fake.update(u32(k), valueFor(fake, k));
    }
    const keys = randomKeys(200, 128);
    assert.deepEqual(fake.lookupMany(keys), real.lookupMany(keys), `type ${type}`);
    for (const bad of [new Uint8Array(6), new Uint8Array(0)]) {
      assert.throws(() => fake.lookupMany(bad), RangeError);
      assert.throws(() => real.lookupMany(bad), RangeError);
    }
    assert.throws(() => fake.lookupMany(keys, { found: new Uint8Array(3) }), /found must be 200 bytes/);
    fake.close();
    assert.throws(
      () => fake.lookupMany(keys),
      (e) => BpfError.is(e, 'EBADF'),
    );
  }
});

test('an array walks in one kernel entry: chunks()/entries()/keys() equal lookups, each index once, in order', (t) => {
  const m = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 12, maxEntries: 3000 });
  for (let k = 0; k < 3000; k += 2) m.update(u32(k), valueFor(m, k));
  const before = progFds();
  const chunks = [...m.chunks({ batchSize: 500 })];
  if (!requireKernelLoop(t, before, progFds())) return;
  assert.ok(chunks.every((c) => c.count <= 500));
  assert.equal(
    chunks.reduce((n, c) => n + c.count, 0),
    3000,
  );
  let i = 0;
  for (const [k, v] of m.entries()) {
    assert.equal(new DataView(k.buffer, k.byteOffset, 4).getUint32(0, true), i, 'indexes in order');
    assert.deepEqual(v, m.lookup(u32(i)));
    i++;
  }
  assert.equal(i, 3000);
  assert.equal([...m.keys()].length, 3000);
  // The batch walk gives the same bytes.
  const viaBatch = [...m.lookupBatch()];
  const cat = (cs, f) => Buffer.concat(cs.map((c) => c[f]));
  assert.ok(cat(chunks, 'keys').equals(cat(viaBatch, 'keys')));
  assert.ok(cat(chunks, 'values').equals(cat(viaBatch, 'values')));
  // Forced off, the walk takes lookup batches and loads no program.
  process.env.BPFMAP_KERNEL_LOOP = '0';
  try {
    const other = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 12, maxEntries: 3000 });
    for (let k = 0; k < 3000; k += 2) other.update(u32(k), valueFor(other, k));
    const fds = progFds();
    const forced = [...other.chunks({ batchSize: 500 })];
    assert.equal(progFds(), fds);
    assert.ok(cat(forced, 'values').equals(cat(chunks, 'values')));
  } finally {
    delete process.env.BPFMAP_KERNEL_LOOP;
  }
  m.close();
  assert.equal(progFds(), before, 'close() released the walk');
});

test('an array walked while a writer updates it: every index once, values whole', async (t) => {
  const m = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 5000 });
  const path = pinPath(t, 'many_array_churn');
  m.pin(path);
  const script = `
    import { BpfMap } from 'bpfmap';
    const map = BpfMap.openPinned(${JSON.stringify(path)});
    const k = new Uint8Array(4), v = new Uint8Array(8), kv = new DataView(k.buffer), vv = new DataView(v.buffer);
    process.stdout.write('ready\\n');
    for (let i = 0; ; i++) { const key = i % 5000; kv.setUint32(0, key, true); vv.setUint32(0, key, true); vv.setUint32(4, i, true); map.update(k, v); }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  await once(child.stdout, 'data');
  const before = progFds();
  let written = 0;
  for (let pass = 0; pass < 50; pass++) {
    let i = 0;
    for (const c of m.chunks()) {
      if (pass === 0 && i === 0 && !requireKernelLoop(t, before, progFds())) return;
      const dv = new DataView(c.values.buffer, c.values.byteOffset, c.values.byteLength);
      const kv = new DataView(c.keys.buffer, c.keys.byteOffset, c.keys.byteLength);
      for (let j = 0; j < c.count; j++, i++) {
        assert.equal(kv.getUint32(j * 4, true), i);
        const tag = dv.getUint32(j * 8, true);
        assert.ok(tag === i || (tag === 0 && dv.getUint32(j * 8 + 4, true) === 0), `index ${i} holds index ${tag}'s value`);
        if (tag === i) written++;
      }
    }
    assert.equal(i, 5000);
    await new Promise((res) => setImmediate(res));
  }
  assert.ok(written > 0, 'the writer was seen');
});

/** updateBatch then deleteBatch on a fresh map of `type`: what each returned or threw, and what the map holds. */
function writeScenario(t, type) {
  const m = tmpMap(t, { type, keySize: 4, valueSize: 8, maxEntries: 100 });
  const keys = new Uint8Array(150 * 4);
  const vals = new Uint8Array(150 * 8);
  for (let i = 0; i < 150; i++) {
    keys.set(u32(i * 7), i * 4);
    vals.set(u32(i + 1), i * 8);
  }
  const outcome = (fn) => {
    try {
      return fn();
    } catch (e) {
      return `${e.command} ${e.code} count ${e.count}`;
    }
  };
  const before = progFds();
  const updated = outcome(() => m.updateBatch(keys, vals)); // 150 into 100 entries: E2BIG at 100 (LRU: evicts)
  const loaded = progFds() > before;
  const dk = keys.slice(0, 80 * 4);
  dk.set(u32(1), 50 * 4); // never inserted: ENOENT at 50
  const deleted = type === MapType.Array ? undefined : outcome(() => m.deleteBatch(dk));
  const entries = [...m.entries()].map(([k, v]) => `${readKey(k)}:${readKey(v)}`).sort();
  return { updated, deleted, entries, loaded };
}
const readKey = (b) => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);

for (const [name, type] of [
  ['hash', MapType.Hash],
  ['LRU hash', MapType.LruHash],
  ['array', MapType.Array],
]) {
  test(`updateBatch/deleteBatch through the write loop on a ${name} give what the kernel's batch commands give`, (t) => {
    const viaLoop = writeScenario(t, type);
    if (!requireKernelLoop(t, 0, viaLoop.loaded ? 1 : 0)) return;
    process.env.BPFMAP_KERNEL_LOOP = '0';
    let viaBatch;
    try {
      viaBatch = writeScenario(t, type);
    } finally {
      delete process.env.BPFMAP_KERNEL_LOOP;
    }
    assert.equal(viaBatch.loaded, false);
    assert.deepEqual({ ...viaLoop, loaded: 0 }, { ...viaBatch, loaded: 0 });
    if (type === MapType.Hash) {
      assert.equal(viaLoop.updated, 'BPF_MAP_UPDATE_BATCH E2BIG count 100');
      assert.equal(viaLoop.deleted, 'BPF_MAP_DELETE_BATCH ENOENT count 50');
    }
  });
}

test('the write loop never writes what the syscall would refuse: frozen maps and read-only fds get EPERM', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 64 });
  const keys = new Uint8Array(32 * 4);
  for (let i = 0; i < 32; i++) keys.set(u32(i), i * 4);
  const vals = new Uint8Array(32 * 8);
  assert.equal(m.updateBatch(keys, vals), 32);
  const path = pinPath(t, 'many_ro');
  m.pin(path);
  const ro = BpfMap.openPinned(path, { readOnly: true });
  t.after(() => ro.close());
  assert.throws(
    () => ro.updateBatch(keys, vals),
    (e) => BpfError.is(e, 'EPERM'),
  );
  assert.throws(
    () => ro.deleteBatch(keys),
    (e) => BpfError.is(e, 'EPERM'),
  );
  m.freeze();
  assert.throws(
    () => m.updateBatch(keys, vals),
    (e) => BpfError.is(e, 'EPERM'),
  );
  assert.throws(
    () => m.deleteBatch(keys),
    (e) => BpfError.is(e, 'EPERM'),
  );
  assert.equal([...m.keys()].length, 32, 'nothing was deleted');
});
