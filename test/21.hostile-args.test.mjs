// Hostile arguments (issue 13, items 4-7, 15, 16): getters that detach or shrink buffers, holes in
// arrays, reentrant record getters, lying lengths, stale call-block bytes, the order of checks.
// Every case checks what the kernel holds afterwards, not only the error.
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { test } from 'node:test';
import {
  BpfError,
  BpfMap,
  MapType,
  bpfMapDeleteElem,
  bpfMapLookupAndDeleteBatch,
  bpfMapLookupBatch,
  bpfMapLookupElem,
  bpfMapUpdateBatch,
  bpfMapUpdateElem,
  defineStruct,
  possibleCpus,
  u32 as u32Type,
} from 'bpfmap';
import { bpftool, fromHex, readU32, tmpMap, u32 } from './helpers/kernel.mjs';

/** The map's contents as bpftool sees them: key (u32) → value bytes as an array of numbers. */
function dump(m) {
  const out = new Map();
  for (const e of bpftool('map', 'dump', 'id', m.id)) out.set(readU32(fromHex(e.key)), Array.from(fromHex(e.value)));
  return out;
}

/** Detaches `u8`'s ArrayBuffer (its views become empty), as a hostile getter would. */
function detach(u8) {
  structuredClone(u8.buffer, { transfer: [u8.buffer] });
}

const bytes4 = (n) => Array.from(u32(n));
const hash = (t, extra = {}) => tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 64, ...extra });

/** Asserts `fn` throws `type` whose message names `what`. */
function throwsNaming(fn, type, what) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.match(err.message, what);
    return true;
  });
}

// ---- Item 4: buffers that change between the check and the syscall ----

/**
 * Options whose `prop` getter returns `value` and runs `action` from its `from`-th read on: read
 * once (as the library must), `from` 1 changes the buffer before the checks and `from` 2 never does.
 */
function sneaky(prop, from, action, value, base = {}) {
  let reads = 0;
  const opts = Object.defineProperty({ ...base }, prop, {
    enumerable: true,
    get() {
      if (++reads >= from) action();
      return value;
    },
  });
  return { opts, reads: () => reads };
}

/**
 * Each case: set the map up, then `run(makeOpts)` once per getter timing. With the change made on
 * the first read the call throws `error` naming `what` and the map is as before; made on a later
 * read it never happens: the getter is read once and the call does what was asked (`after`).
 */
const item4 = [
  {
    name: 'lookupAndDelete, flags getter detaches the key',
    what: /key/,
    run: (m, mk) => {
      const k = u32(2);
      return [mk('flags', () => detach(k)), (o) => m.lookupAndDelete(k, o)];
    },
    after: new Map([[1, bytes4(10)]]),
  },
  {
    name: 'update, flags getter detaches the value (an earlier call on another map left bytes)',
    what: /value/,
    run: (m, mk, other) => {
      other.lookup(u32(7));
      const v = u32(5);
      return [mk('flags', () => detach(v)), (o) => m.update(u32(3), v, o)];
    },
    after: new Map([
      [1, bytes4(10)],
      [2, bytes4(20)],
      [3, bytes4(5)],
    ]),
  },
  {
    name: 'update, flags getter detaches the key',
    what: /key/,
    run: (m, mk) => {
      const k = u32(2);
      return [mk('flags', () => detach(k)), (o) => m.update(k, u32(99), o)];
    },
    after: new Map([
      [1, bytes4(10)],
      [2, bytes4(99)],
    ]),
  },
  {
    name: 'lookup, out getter detaches the key',
    what: /key/,
    run: (m, mk) => {
      const k = u32(2);
      return [mk('out', () => detach(k), new Uint8Array(4)), (o) => assert.deepEqual(m.lookup(k, o), u32(20))];
    },
    after: new Map([
      [1, bytes4(10)],
      [2, bytes4(20)],
    ]),
  },
  {
    name: 'lookup, flags getter detaches out',
    what: /out/,
    run: (m, mk) => {
      const out = new Uint8Array(4);
      return [mk('flags', () => detach(out), undefined, { out }), (o) => assert.deepEqual(m.lookup(u32(2), o), u32(20))];
    },
    after: new Map([
      [1, bytes4(10)],
      [2, bytes4(20)],
    ]),
  },
  {
    name: 'lookupAndDelete, flags getter shrinks a resizable buffer under a fixed-length key',
    what: /key/,
    run: (m, mk) => {
      const rab = new ArrayBuffer(4, { maxByteLength: 8 });
      const k = new Uint8Array(rab, 0, 4);
      k.set(u32(2));
      return [mk('flags', () => rab.resize(2)), (o) => m.lookupAndDelete(k, o)];
    },
    after: new Map([[1, bytes4(10)]]),
  },
  {
    name: 'lookupAndDelete, flags getter shrinks a resizable buffer under a length-tracking key',
    what: /key/,
    run: (m, mk) => {
      const rab = new ArrayBuffer(4, { maxByteLength: 8 });
      const k = new Uint8Array(rab);
      k.set(u32(2));
      return [mk('flags', () => rab.resize(2)), (o) => m.lookupAndDelete(k, o)];
    },
    after: new Map([[1, bytes4(10)]]),
  },
];

for (const c of item4) {
  test(`item 4: ${c.name}: refused before anything is staged, or the getter is read once`, (t) => {
    for (const flags of [undefined, 0]) {
      for (const from of [1, 2]) {
        const m = hash(t);
        const other = hash(t);
        other.update(u32(7), Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
        m.update(u32(1), u32(10));
        m.update(u32(2), u32(20));
        let reads;
        const mk = (prop, action, value = flags, base = {}) => {
          const s = sneaky(prop, from, action, value, base);
          reads = s.reads;
          return s.opts;
        };
        m.lookup(u32(1)); // the call block now holds key 1 (and value 10)
        const [opts, call] = c.run(m, mk, other);
        const before = dump(m);
        const label = `${c.name}, flags ${flags}, changed from read ${from}`;
        if (from === 1) {
          assert.throws(
            () => call(opts),
            (err) =>
              (err instanceof TypeError || err instanceof RangeError) && c.what.test(err.message)
                ? true
                : assert.fail(`${label}: ${err}`),
          );
          assert.deepEqual(dump(m), before, label);
        } else {
          call(opts);
          assert.equal(reads(), 1, `${label}: getter reads`);
          assert.deepEqual(dump(m), c.after, label);
        }
      }
    }
  });
}

test('item 4: a detached key or value is a TypeError naming it, never a NULL pointer', (t) => {
  const m = hash(t);
  m.update(u32(0), u32(1));
  const k = u32(0);
  detach(k);
  throwsNaming(() => m.lookup(k), TypeError, /key.*detached/);
  throwsNaming(() => m.delete(k), TypeError, /key.*detached/);
  throwsNaming(() => bpfMapDeleteElem(m, k), TypeError, /key.*detached/);
  throwsNaming(() => bpfMapLookupElem(m.fd, k, new Uint8Array(4)), TypeError, /key.*detached/);
  const v = u32(3);
  detach(v);
  throwsNaming(() => m.update(u32(0), v), TypeError, /value.*detached/);
  throwsNaming(() => bpfMapUpdateElem(m, u32(0), v), TypeError, /value.*detached/);
  assert.deepEqual(dump(m), new Map([[0, bytes4(1)]]));
});

// ---- Item 5: lookup-and-delete batches that would lose elements ----

test('item 5: bpfMapLookupAndDeleteBatch with outBatch or values null deletes nothing and names the argument', (t) => {
  const m = hash(t);
  for (let i = 0; i < 19; i++) m.update(u32(i), u32(i + 100));
  const keys = new Uint8Array(32 * 4);
  const values = new Uint8Array(32 * 4);
  throwsNaming(() => bpfMapLookupAndDeleteBatch(m, null, null, keys, values, 32), TypeError, /outBatch/);
  throwsNaming(() => bpfMapLookupAndDeleteBatch(m, null, new Uint8Array(4), keys, null, 32), TypeError, /values/);
  throwsNaming(() => bpfMapLookupAndDeleteBatch(m, null, new Uint8Array(4), null, values, 32), TypeError, /keys/);
  throwsNaming(() => bpfMapLookupBatch(m, null, null, keys, values, 32), TypeError, /outBatch/);
  assert.equal(dump(m).size, 19);
});

test('item 5: buffers detached in an elemFlags getter: nothing deleted, the error names the buffer', (t) => {
  const m = hash(t);
  for (let i = 0; i < 19; i++) m.update(u32(i), u32(i + 100));
  for (const which of ['outBatch', 'keys', 'values']) {
    const bufs = { outBatch: new Uint8Array(4), keys: new Uint8Array(32 * 4), values: new Uint8Array(32 * 4) };
    const opts = {
      get elemFlags() {
        detach(bufs[which]);
        return 0;
      },
    };
    assert.throws(
      () => bpfMapLookupAndDeleteBatch(m, null, bufs.outBatch, bufs.keys, bufs.values, 32, opts),
      (err) => err instanceof TypeError && err.message.includes(which) && !/bug in bpfmap/.test(err.message),
    );
    assert.equal(dump(m).size, 19, which);
  }
});

test('item 5: bpfMapUpdateBatch whose flags getter detaches the values stores nothing', (t) => {
  const m = hash(t);
  const keys = new Uint8Array(8);
  keys.set(u32(1), 0);
  keys.set(u32(2), 4);
  const values = new Uint8Array(8).fill(7);
  throwsNaming(
    () =>
      bpfMapUpdateBatch(m, keys, values, 2, {
        get elemFlags() {
          detach(values);
          return 0;
        },
      }),
    TypeError,
    /values/,
  );
  assert.deepEqual(dump(m), new Map());
});

// ---- Item 6: holes in batch arrays ----

test('item 6: holes in batch arrays are a TypeError naming the index; key 0 is not touched', (t) => {
  const m = hash(t);
  m.update(u32(0), u32(1234));
  m.update(u32(3), u32(3));
  // biome-ignore lint/suspicious/noSparseArray: the hole is the point
  throwsNaming(() => m.updateBatch([u32(1), , u32(2)], [u32(10), u32(11), u32(12)]), TypeError, /keys\[1\]/);
  // biome-ignore lint/suspicious/noSparseArray: the hole is the point
  throwsNaming(() => m.updateBatch([u32(1), u32(2), u32(0)], [u32(10), , u32(12)]), TypeError, /values\[1\]/);
  // biome-ignore lint/suspicious/noSparseArray: the hole is the point
  throwsNaming(() => m.deleteBatch([u32(3), ,]), TypeError, /keys\[1\]/);
  throwsNaming(() => m.updateBatch([u32(0)], new Array(1)), TypeError, /values\[0\]/);
  throwsNaming(() => m.deleteBatch(new Array(2)), TypeError, /keys\[0\]/);
  assert.deepEqual(
    dump(m),
    new Map([
      [0, bytes4(1234)],
      [3, bytes4(3)],
    ]),
  );
});

// ---- Item 7: reentrant record getters ----

const Pair = defineStruct('pair', { a: u32Type, b: u32Type });

test('item 7: a record getter that looks up another key does not redirect TypedMap.set', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 16 });
  const tm = m.typed(u32Type, Pair);
  tm.set(
    5,
    Object.defineProperty({ a: 1 }, 'b', {
      enumerable: true,
      get() {
        tm.get(99);
        return 2;
      },
    }),
  );
  assert.deepEqual([...dump(m).keys()], [5]);
  assert.deepEqual(tm.get(5), { a: 1, b: 2 });
  // The same with a struct key whose member getter uses the view.
  const Key = defineStruct('k2', { x: u32Type, y: u32Type });
  const m2 = tmpMap(t, { type: MapType.Hash, keySize: 8, valueSize: 8, maxEntries: 16 });
  const t2 = m2.typed(Key, Pair);
  t2.set({ x: 1, y: 1 }, { a: 0, b: 0 });
  t2.set(
    Object.defineProperty({ x: 7 }, 'y', {
      enumerable: true,
      get() {
        t2.get({ x: 1, y: 1 });
        return 8;
      },
    }),
    { a: 3, b: 4 },
  );
  assert.deepEqual(t2.get({ x: 7, y: 8 }), { a: 3, b: 4 });
  assert.equal(bpftool('map', 'dump', 'id', m2.id).length, 2);
});

test('item 7: the same through updateStructInt, updateStruct and updateInt', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 16 });
  m.updateStructInt(99, { a: 9, b: 9 }, Pair);
  const reenter = (fn) =>
    Object.defineProperty({ a: 1 }, 'b', {
      enumerable: true,
      get() {
        fn();
        return 2;
      },
    });
  m.updateStructInt(
    5,
    reenter(() => m.lookupStructInt(99, Pair)),
    Pair,
  );
  m.updateStructInt(
    6,
    reenter(() => m.updateStructInt(98, { a: 8, b: 8 }, Pair)),
    Pair,
  );
  m.updateStruct(
    u32(7),
    reenter(() => m.lookupInt(99)),
    Pair,
  );
  m.updateStructInt(
    8,
    { a: 1, b: 2 },
    Pair,
    Object.defineProperty({}, 'flags', {
      get() {
        m.lookupStructInt(99, Pair);
        return 0;
      },
    }),
  );
  const contents = dump(m);
  const rec = (a, b) => [...u32(a), ...u32(b)];
  assert.deepEqual(
    contents,
    new Map([
      [99, rec(9, 9)],
      [98, rec(8, 8)],
      [5, rec(1, 2)],
      [6, rec(1, 2)],
      [7, rec(1, 2)],
      [8, rec(1, 2)],
    ]),
  );
  // updateInt: a flags getter that uses the integer key scratch.
  const n = hash(t);
  n.updateInt(50, 5);
  n.updateInt(1, 2, {
    get flags() {
      n.lookupInt(50);
      return 0;
    },
  });
  assert.deepEqual(
    dump(n),
    new Map([
      [50, bytes4(5)],
      [1, bytes4(2)],
    ]),
  );
});

// ---- Item 15: no stale bytes in results ----

test('item 15: a bloom filter lookup(null) returns no bytes left by an earlier operation', (t) => {
  const other = hash(t);
  other.update(u32(1), Uint8Array.of(1, 0, 0, 0));
  const bloom = tmpMap(t, { type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 16 });
  bloom.push(Uint8Array.of(1, 0, 0, 0));
  other.lookup(u32(1)); // the call block's value area now holds [1, 0, 0, 0]
  assert.throws(
    () => bloom.lookup(null),
    (err) => err instanceof TypeError && /peek\(value\)/.test(err.message),
  );
  assert.equal(bloom.peek(Uint8Array.of(1, 0, 0, 0)), true);
});

// ---- Item 16: one order of checks; lying lengths ----

test('item 16: wrong-size keys and values are RangeErrors on every map type, before the kernel', (t) => {
  const arr = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 4 });
  throwsNaming(() => arr.delete(new Uint8Array(3)), RangeError, /key must be 4 bytes/);
  throwsNaming(() => arr.delete('x'), TypeError, /key must be a Uint8Array/);
  // A right-sized key on an array still gets the array's refusal.
  assert.throws(
    () => arr.delete(u32(0)),
    (err) => BpfError.is(err, 'EINVAL'),
  );
  const pc = tmpMap(t, { type: MapType.PercpuArray, keySize: 4, valueSize: 4, maxEntries: 4 });
  throwsNaming(() => pc.update(u32(0), new Uint8Array(3)), RangeError, /value/);
  throwsNaming(() => pc.update(u32(0), 'x'), TypeError, /value/);
  throwsNaming(() => pc.update(u32(0), new Array(possibleCpus() + 1).fill(u32(0))), RangeError, /per-CPU/);
});

class Liar extends Uint8Array {
  get length() {
    return 4;
  }
}

test('Smaller: a Uint8Array subclass that lies about its length is a RangeError, never zero-padded or EFAULT', (t) => {
  const m = hash(t);
  const k = new Liar(2);
  k[0] = 1;
  throwsNaming(() => m.update(k, u32(1)), RangeError, /key must be 4 bytes.*got 2/);
  throwsNaming(() => m.lookup(k), RangeError, /key must be 4 bytes.*got 2/);
  throwsNaming(() => m.update(u32(1), new Liar(2)), RangeError, /value must be 4 bytes.*got 2/);
  throwsNaming(() => bpfMapUpdateElem(m, k, u32(1)), RangeError, /key must be at least 4 bytes.*got 2/);
  throwsNaming(() => bpfMapLookupElem(m, u32(1), new Liar(2)), RangeError, /value must be at least 4 bytes.*got 2/);
  assert.deepEqual(dump(m), new Map());
  // A Proxy of a Uint8Array is not one: its traps would run while bytes are staged.
  const p = new Proxy(u32(1), {});
  throwsNaming(() => m.update(p, u32(1)), TypeError, /key must be a Uint8Array/);
  assert.deepEqual(dump(m), new Map());
});

test('item 4: a per-CPU element getter that closes the map: EBADF, and the map that took its fd number is untouched', (t) => {
  // The getter runs while the value is read; the map is closed and its number given to a new map.
  // The library reads every user value first, then checks `closed`, then makes the syscall.
  const ncpu = possibleCpus();
  const m = tmpMap(t, { type: MapType.PercpuHash, keySize: 4, valueSize: 8, maxEntries: 16 });
  const parts = Array.from({ length: ncpu }, (_, i) => new Uint8Array(8).fill(i + 1));
  const hostile = [...parts];
  let decoy;
  Object.defineProperty(hostile, ncpu - 1, {
    get() {
      if (decoy === undefined) {
        const fd = m.fd;
        m.close();
        decoy = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 64 });
        assert.equal(decoy.fd, fd, 'the new map took the closed map’s fd number');
      }
      return parts[ncpu - 1];
    },
  });
  assert.throws(
    () => m.update(u32(0), hostile),
    (e) => BpfError.is(e) && e.code === 'EBADF' && e.command === 'BPF_MAP_UPDATE_ELEM',
  );
  assert.deepEqual(dump(decoy), new Map(), 'nothing written into the map that took the number');
});

test('Smaller: the EFAULT hint names an fd closed outside bpfmap whose number was reused before suspecting a bug', (t) => {
  // fs.closeSync(map.fd) behind the library's back, then a map with 128 KiB values takes the number:
  // the kernel's copy hits the call block's guard page. The hint must point at the likely cause.
  const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
  const fd = m.fd;
  closeSync(fd);
  const big = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 131072, maxEntries: 1 });
  t.after(() => {
    big.close();
    try {
      m.close(); // the number is free again: m's close finds nothing to close
    } catch {}
  });
  assert.equal(big.fd, fd, 'the new map took the closed number');
  assert.throws(
    () => m.lookup(u32(0)),
    (e) => {
      assert.ok(BpfError.is(e) && e.code === 'EFAULT', `expected EFAULT, got ${e?.code}: ${e?.message}`);
      assert.match(e.message, /closed outside bpfmap/);
      assert.match(e.message, /reused/);
      assert.ok(e.message.indexOf('reused') < e.message.indexOf('bug'), `the fd cause comes first: ${e.message}`);
      return true;
    },
  );
  assert.ok(
    big.lookup(u32(0)).every((b) => b === 0),
    'nothing was stored in the map that took the number',
  );
});
