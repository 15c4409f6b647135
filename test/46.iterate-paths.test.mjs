// The paths behind lookup and iteration: the call block and its fallback for large values, the
// straight-line and checked element paths, batch-backed iteration and its get-next-key fallback.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BPF_F_NO_PREALLOC, BpfError, MapType, defineStruct, lpmKey, possibleCpus, u32 as u32Codec, u64 } from 'bpfmap';
import { bpftool, fromHex, tmpMap, u32, readU32 } from './helpers/kernel.mjs';

test('values larger than the call block go through caller buffers, byte for byte', (t) => {
  const size = 100_000; // more than the 64 KiB call block
  const m = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: size, maxEntries: 2 });
  const v = new Uint8Array(size);
  for (let i = 0; i < size; i++) v[i] = (i * 7) & 0xff;
  m.update(u32(1), v);
  assert.deepEqual(m.lookup(u32(1)), v);
  const out = new Uint8Array(size);
  assert.equal(m.lookup(u32(1), { out }), out);
  assert.deepEqual(out, v);
  assert.deepEqual(m.lookup(u32(0)), new Uint8Array(size), 'untouched element reads as zeros');
  assert.throws(() => m.lookup(u32(1), { out: new Uint8Array(size - 1) }), /out must be 100000 bytes/);
});

test('the straight-line and checked paths agree: flags, wrong sizes and closed maps still get their errors', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
  m.update(u32(1), new Uint8Array(8).fill(1));
  m.update(u32(2), new Uint8Array(8).fill(2), { flags: 0 });
  assert.deepEqual(m.lookup(u32(2), { flags: 0 }), new Uint8Array(8).fill(2));
  assert.throws(() => m.lookup(new Uint8Array(3)), /key must be 4 bytes/);
  assert.throws(() => m.update(u32(1), new Uint8Array(7)), /value must be 8 bytes/);
  assert.throws(() => m.delete(new Uint8Array(5)), /key must be 4 bytes/);
  assert.throws(() => m.lookup(u32(1), { out: new Uint8Array(4) }), /out must be 8 bytes/);
  assert.throws(
    () => m.update(u32(1), new Uint8Array(8), { flags: 1 }),
    (e) => BpfError.is(e, 'EEXIST'),
    'BPF_NOEXIST on a present key',
  );
  const arr = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 2 });
  assert.throws(
    () => arr.delete(u32(0)),
    (e) => BpfError.is(e, 'EINVAL') && e.command === 'BPF_MAP_DELETE_ELEM',
  );
  assert.throws(
    () => arr.update(u32(9), new Uint8Array(8)),
    (e) => BpfError.is(e, 'E2BIG'),
  );
  m.close();
  assert.throws(
    () => m.lookup(u32(1)),
    (e) => BpfError.is(e, 'EBADF'),
  );
  assert.throws(
    () => m.update(u32(1), new Uint8Array(8)),
    (e) => BpfError.is(e, 'EBADF'),
  );
  assert.throws(
    () => m.delete(u32(1)),
    (e) => BpfError.is(e, 'EBADF'),
  );
});

test('per-CPU lookup into a caller buffer returns the same frozen views of it each time', (t) => {
  const n = possibleCpus();
  const m = tmpMap(t, { type: MapType.PercpuArray, keySize: 4, valueSize: 4, maxEntries: 2 });
  m.update(
    u32(0),
    Array.from({ length: n }, (_, c) => u32(100 + c)),
  );
  m.update(
    u32(1),
    Array.from({ length: n }, (_, c) => u32(200 + c)),
  );
  const out = new Uint8Array(8 * n);
  const a = m.lookup(u32(0), { out });
  assert.deepEqual(
    a.map(readU32),
    Array.from({ length: n }, (_, c) => 100 + c),
  );
  const b = m.lookup(u32(1), { out });
  assert.equal(a, b, 'the same array of views');
  assert.ok(Object.isFrozen(b));
  assert.deepEqual(
    b.map(readU32),
    Array.from({ length: n }, (_, c) => 200 + c),
  );
  assert.equal(b[0].buffer, out.buffer, 'views into out');
  const other = new Uint8Array(8 * n);
  assert.notEqual(m.lookup(u32(0), { out: other }), b, 'another buffer gets its own views');
});

const pair = defineStruct('pair', { a: 'u32', b: 'u64' });

for (const [name, opts] of [
  ['hash (batches)', { type: MapType.Hash }],
  ['percpu_hash (batches)', { type: MapType.PercpuHash }],
  ['array (batches)', { type: MapType.Array }],
  ['lpm_trie (get-next-key)', { type: MapType.LpmTrie, flags: BPF_F_NO_PREALLOC }],
]) {
  test(`${name}: keys(), entries(), chunks() and typed iteration see every element once`, (t) => {
    const lpm = opts.type === MapType.LpmTrie;
    const count = 300; // more than one 256-element batch
    const keyOf = (i) => (lpm ? lpmKey(32, u32(i).reverse()) : u32(i));
    const m = tmpMap(t, { ...opts, keySize: lpm ? 8 : 4, value: pair, maxEntries: count });
    for (let i = 0; i < count; i++) m.updateStruct(keyOf(i), { a: i, b: BigInt(i) * 3n }, pair);
    const idOf = (k) => (lpm ? new DataView(k.buffer, k.byteOffset).getUint32(4, false) : readU32(k));
    const keys = [...m.keys()].map(idOf);
    assert.deepEqual(
      keys.sort((x, y) => x - y),
      Array.from({ length: count }, (_, i) => i),
    );
    const entries = [...m.entries()];
    assert.equal(entries.length, count);
    for (const [k, v] of entries) {
      const rec = Array.isArray(v) ? pair.decode(v[0]) : pair.decode(v);
      assert.equal(rec.a, idOf(k));
    }
    let total = 0;
    for (const c of m.chunks({ batchSize: 64 })) {
      assert.equal(c.keys.length, c.count * m.keySize);
      assert.equal(c.values.length, c.count * m.valueBufferSize);
      total += c.count;
    }
    assert.equal(total, count);
    if (!lpm) {
      const typed = opts.type === MapType.PercpuHash ? m.typedPerCpu(u32Codec, pair) : m.typed(u32Codec, pair);
      const seen = new Map(typed.entries());
      assert.equal(seen.size, count);
      const v7 = seen.get(7);
      assert.deepEqual(Array.isArray(v7) ? v7[0] : v7, { a: 7, b: 21n });
    }
    // And the kernel agrees on what is there.
    assert.equal(bpftool('map', 'dump', 'id', m.id).length, count);
  });
}

test('entries() of a 1,000-entry hash agrees with bpftool map dump on every pair', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, key: u32Codec, value: u64, maxEntries: 1000 });
  const tm = m.typed();
  for (let i = 0; i < 1000; i++) tm.set(i, BigInt(i) ** 3n);
  const ours = new Map([...m.entries()].map(([k, v]) => [readU32(k), Buffer.from(v).toString('hex')]));
  const theirs = new Map(
    bpftool('map', 'dump', 'id', m.id).map((e) => [readU32(fromHex(e.key)), Buffer.from(fromHex(e.value)).toString('hex')]),
  );
  assert.deepEqual(ours, theirs);
});

test('struct records decode with one shape; a field named __proto__ is an own field like any other', () => {
  const a = pair.decode(pair.encode({ a: 1, b: 2n }));
  const b = pair.decode(pair.encode({ a: 3, b: 4n }));
  assert.deepEqual(Object.keys(a), ['a', 'b']);
  assert.deepEqual(Object.keys(b), ['a', 'b']);
  assert.equal(Object.getPrototypeOf(a), Object.prototype);
  assert.throws(() => defineStruct('bad', { __proto__: 'u32' }), /at least one field|__proto__/);
  const p = defineStruct('p', JSON.parse('{"__proto__": "u32"}'));
  const v = p.decode(p.encode(JSON.parse('{"__proto__": 7}')));
  assert.ok(Object.hasOwn(v, '__proto__'));
  assert.equal(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, 7); // a field, not the prototype
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
});

test('lpmKey: host-order prefix length, then the bytes as given; bad prefixes refused', (t) => {
  assert.deepEqual(lpmKey(24, [10, 1, 2, 0]), Uint8Array.from([24, 0, 0, 0, 10, 1, 2, 0]));
  assert.throws(() => lpmKey(33, [10, 0, 0, 0]), /prefixLen must be an integer from 0 to 32 \(8 × 4 bytes\), got 33/);
  assert.throws(() => lpmKey(-1, new Uint8Array(16)), /from 0 to 128/);
  assert.throws(() => lpmKey(8, [256]), /array of byte values/);
  // Longest-prefix match in a real trie.
  const m = tmpMap(t, { type: MapType.LpmTrie, keySize: 8, valueSize: 4, maxEntries: 8, flags: BPF_F_NO_PREALLOC });
  m.update(lpmKey(8, [10, 0, 0, 0]), u32(8));
  m.update(lpmKey(24, [10, 1, 2, 0]), u32(24));
  assert.equal(readU32(m.lookup(lpmKey(32, [10, 1, 2, 3]))), 24);
  assert.equal(readU32(m.lookup(lpmKey(32, [10, 9, 9, 9]))), 8);
  assert.equal(m.lookup(lpmKey(32, [11, 0, 0, 0])), undefined);
});

test('chunks({ reuse: true }) hands out the same buffers every step, with the same contents a fresh walk gives', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1000 });
  for (let i = 0; i < 1000; i++) m.update(u32(i), new Uint8Array(8).fill(i & 0xff));
  const fresh = [];
  const buffers = new Set();
  for (const c of m.chunks({ batchSize: 100 })) {
    fresh.push(...Array.from({ length: c.count }, (_, i) => Buffer.from(c.keys.subarray(i * 4, i * 4 + 4)).toString('hex')));
    buffers.add(c.keys.buffer);
  }
  assert.ok(buffers.size >= 1);
  const reused = [];
  const reusedBuffers = new Set();
  for (const c of m.chunks({ batchSize: 100, reuse: true })) {
    reused.push(...Array.from({ length: c.count }, (_, i) => Buffer.from(c.keys.subarray(i * 4, i * 4 + 4)).toString('hex')));
    reusedBuffers.add(c.keys.buffer);
    for (let i = 0; i < c.count; i++) assert.equal(c.values[i * 8], c.keys[i * 4], 'values belong to their keys');
  }
  assert.deepEqual(reused, fresh);
  assert.equal(reused.length, 1000);
  assert.equal(reusedBuffers.size, 1, 'one buffer for every chunk');
});

test('entries() over batches: one fresh [key, value] pair of views per entry, as chunks() holds them; break ends the pass', (t) => {
  const n = 700; // several 256-element batches
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: n });
  for (let k = 0; k < n; k++) m.update(u32(k), new Uint8Array(8).fill(k & 0xff));
  const pairs = [...m.entries()];
  assert.equal(pairs.length, n);
  const seen = new Set();
  for (const [k, v] of pairs) {
    assert.ok(k instanceof Uint8Array && v instanceof Uint8Array);
    assert.equal(k.length, 4);
    assert.equal(v.length, 8);
    const key = readU32(k);
    assert.ok(!seen.has(key), `key ${key} yielded twice`);
    seen.add(key);
    assert.deepEqual(v, new Uint8Array(8).fill(key & 0xff), `value of key ${key} kept after the walk went on`);
  }
  assert.equal(new Set(pairs.map(([k]) => k)).size, n, 'a fresh key view per entry');
  assert.equal(new Set(pairs.map(([, v]) => v)).size, n, 'a fresh value view per entry');
  const it = m.entries();
  let got = 0;
  for (const _ of it) if (++got === 300) break;
  assert.deepEqual(it.next(), { value: undefined, done: true }, 'a pass ended by break stays ended');
  const closed = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 2 });
  const late = closed.entries();
  closed.close();
  assert.throws(
    () => late.next(),
    (e) => BpfError.is(e, 'EBADF'),
    'a map closed before the first next()',
  );
  const pc = tmpMap(t, { type: MapType.PercpuHash, keySize: 4, valueSize: 4, maxEntries: 4 });
  pc.update(u32(3), new Uint8Array(4).fill(9));
  const [[pk, pv]] = [...pc.entries()];
  assert.equal(readU32(pk), 3);
  assert.equal(pv.length, possibleCpus());
  for (const slot of pv) assert.deepEqual(slot, new Uint8Array(4).fill(9));
});
