// Batch operations on the real kernel: cursors, the end-of-map ENOENT, partial failure counts, per-CPU layout, fallback.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BPF_NOEXIST,
  BpfError,
  MapType,
  bpfMapDeleteBatch,
  bpfMapLookupAndDeleteBatch,
  bpfMapLookupBatch,
  bpfMapUpdateBatch,
  possibleCpus,
} from 'bpfmap';
import { bpftool, fromHex, readU32, tmpMap, u32 } from './helpers/kernel.mjs';

function flatU32(list) {
  const b = new Uint8Array(list.length * 4);
  const v = new DataView(b.buffer);
  list.forEach((x, i) => {
    v.setUint32(i * 4, x, true);
  });
  return b;
}
const readAll = (b, n) => Array.from({ length: n }, (_, i) => readU32(b.subarray(i * 4)));

test('bpfMapUpdateBatch / bpfMapLookupBatch: cursor resume until done, every element exactly once', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1000 });
  const keys = Array.from({ length: 700 }, (_, i) => i + 1);
  assert.equal(bpfMapUpdateBatch(m, flatU32(keys), flatU32(keys.map((k) => k * 3)), keys.length), 700);
  assert.equal(bpftool('map', 'dump', 'id', m.id).length, 700);
  const seen = new Map();
  const outKeys = new Uint8Array(64 * 4);
  const outValues = new Uint8Array(64 * 4);
  let inB = null;
  let calls = 0;
  for (;;) {
    const outB = new Uint8Array(4);
    let r;
    try {
      r = bpfMapLookupBatch(m.fd, inB, outB, outKeys, outValues, 64);
    } catch (e) {
      if (BpfError.is(e, 'ENOSPC')) assert.fail('a bucket larger than 64 is not expected here');
      throw e;
    }
    calls++;
    const ks = readAll(outKeys, r.count);
    const vs = readAll(outValues, r.count);
    ks.forEach((k, i) => {
      assert.equal(seen.has(k), false, `key ${k} twice`);
      seen.set(k, vs[i]);
    });
    if (r.done) break;
    inB = outB;
  }
  assert.equal(seen.size, 700);
  for (const [k, v] of seen) assert.equal(v, k * 3);
  assert.ok(calls >= 11, `${calls} calls`);
});

test('a failed batch update says how many elements were applied, and applied exactly those', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
  const keys = [1, 2, 3, 4, 5, 6, 7];
  assert.throws(
    () => bpfMapUpdateBatch(m, flatU32(keys), flatU32(keys), keys.length),
    (e) =>
      e instanceof BpfError &&
      e.code === 'E2BIG' &&
      e.count === 4 &&
      /map full: max_entries=4; 4 elements processed/.test(e.message),
  );
  assert.deepEqual(
    [...m.keys()].map(readU32).sort((a, b) => a - b),
    [1, 2, 3, 4],
  );
  // A refusal before any element (the kernel takes only BPF_F_LOCK per element) processed none.
  assert.throws(
    () => bpfMapUpdateBatch(m, flatU32([9]), flatU32([9]), 1, { elemFlags: BPF_NOEXIST }),
    (e) => e.code === 'EINVAL' && e.count === 0 && /only BPF_F_LOCK/.test(e.message),
  );
  // BpfMap.updateBatch honours NOEXIST element by element and stops at the first refusal.
  const h = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 100 });
  h.update(u32(5), u32(500));
  assert.throws(
    () => h.updateBatch(keys.map(u32), keys.map(u32), { flags: BPF_NOEXIST }),
    (e) => e instanceof BpfError && e.code === 'EEXIST' && e.count === 4 && e.command === 'BPF_MAP_UPDATE_BATCH',
  );
  assert.deepEqual(
    [...h.keys()].map(readU32).sort((a, b) => a - b),
    [1, 2, 3, 4, 5],
  );
  assert.equal(readU32(h.lookup(u32(5))), 500, 'the refused element is unchanged');
});

test('bpfMapDeleteBatch deletes and reports partial progress on a missing key', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 100 });
  for (const k of [1, 2, 3]) m.update(u32(k), u32(k));
  assert.equal(bpfMapDeleteBatch(m, flatU32([1, 2]), 2), 2);
  assert.throws(
    () => bpfMapDeleteBatch(m, flatU32([3, 9]), 2),
    (e) => e.code === 'ENOENT' && e.count === 1,
  );
  assert.equal(m.getNextKey(), undefined);
});

test('bpfMapLookupAndDeleteBatch empties the map and returns what it held', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 100 });
  for (let k = 0; k < 50; k++) m.update(u32(k), u32(k + 1));
  const keys = new Uint8Array(100 * 4);
  const values = new Uint8Array(100 * 4);
  const r = bpfMapLookupAndDeleteBatch(m, null, new Uint8Array(4), keys, values, 100);
  assert.equal(r.count, 50);
  assert.equal(r.done, true, 'the last chunk carries elements and done together');
  assert.deepEqual(
    readAll(keys, 50).sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.deepEqual(bpftool('map', 'dump', 'id', m.id), []);
});

test('batch buffers are checked before the syscall', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 8, valueSize: 4, maxEntries: 10 });
  assert.throws(
    () => bpfMapLookupBatch(m, null, new Uint8Array(4), new Uint8Array(80), new Uint8Array(40), 10),
    /outBatch must be at least 8 bytes/,
  );
  assert.throws(
    () => bpfMapLookupBatch(m, null, new Uint8Array(8), new Uint8Array(79), new Uint8Array(40), 10),
    /keys must be at least 80 bytes/,
  );
  assert.throws(() => bpfMapUpdateBatch(m, new Uint8Array(16), new Uint8Array(4), 2), /values must be at least 8 bytes/);
  assert.throws(() => bpfMapUpdateBatch(m, new Uint8Array(16), new Uint8Array(8), 0), RangeError);
  assert.equal(m.getNextKey(), undefined);
});

test('BpfMap.lookupBatch walks the whole map, growing the batch on ENOSPC; per-CPU values in kernel layout', (t) => {
  const n = possibleCpus();
  const m = tmpMap(t, { type: MapType.PercpuHash, keySize: 4, valueSize: 4, maxEntries: 2048 });
  const keys = Array.from({ length: 1500 }, (_, i) => i);
  assert.equal(
    m.updateBatch(
      keys.map(u32),
      keys.map((k) => u32(k)),
    ),
    1500,
  );
  let total = 0;
  for (const chunk of m.lookupBatch({ batchSize: 1 })) {
    assert.equal(chunk.keys.length, chunk.count * 4);
    assert.equal(chunk.values.length, chunk.count * 8 * n);
    for (let i = 0; i < chunk.count; i++) {
      const k = readU32(chunk.keys.subarray(i * 4));
      for (let c = 0; c < n; c++) assert.equal(readU32(chunk.values.subarray((i * n + c) * 8)), k);
    }
    total += chunk.count;
  }
  assert.equal(total, 1500);
  assert.equal(m.deleteBatch(keys.slice(0, 1000).map(u32)), 1000);
  assert.equal([...m.keys()].length, 500);
  let drained = 0;
  for (const chunk of m.lookupAndDeleteBatch()) drained += chunk.count;
  assert.equal(drained, 500);
  assert.equal(m.getNextKey(), undefined);
});

test('BpfMap batch methods fall back to element operations on types without batch support', (t) => {
  // devmap_hash has no batch ops (ENOTSUPP); its values are ifindexes: 1 is loopback.
  const m = tmpMap(t, { type: MapType.DevmapHash, keySize: 4, valueSize: 4, maxEntries: 16 });
  assert.throws(
    () => bpfMapLookupBatch(m, null, new Uint8Array(4), new Uint8Array(40), new Uint8Array(40), 10),
    (e) => e.code === 'ENOTSUPP',
  );
  assert.equal(m.updateBatch([u32(10), u32(20), u32(30)], [u32(1), u32(1), u32(1)]), 3);
  const chunks = [...m.lookupBatch({ batchSize: 2 })];
  assert.deepEqual(
    chunks.map((c) => c.count),
    [2, 1],
  );
  assert.deepEqual(
    chunks.flatMap((c) => readAll(c.keys, c.count)).sort((a, b) => a - b),
    [10, 20, 30],
  );
  assert.equal(m.deleteBatch([u32(10)]), 1);
  assert.throws(
    () => m.deleteBatch([u32(20), u32(10)]),
    (e) => e.code === 'ENOENT' && e.count === 1,
  );
  const dump = bpftool('map', 'dump', 'id', m.id);
  assert.deepEqual(
    dump.map((e) => readU32(fromHex(e.key))),
    [30],
  );
});
