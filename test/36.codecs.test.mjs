// Codecs through real maps: integer helpers, round trips of every field type at its extremes, errors naming the field path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BPF_NOEXIST,
  MapType,
  array,
  be16,
  be32,
  bpfSpinLock,
  cstring,
  decodeIntValue,
  defineStruct,
  encodeIntKey,
  possibleCpus,
  u32,
  u64,
} from 'bpfmap';
import { bpftool, fromHex, tmpMap } from './helpers/kernel.mjs';

test('encodeIntKey / decodeIntValue: little-endian, sizes 1/2/4/8, range checked', () => {
  assert.deepEqual(encodeIntKey(42, 4), Uint8Array.from([42, 0, 0, 0]));
  assert.deepEqual(encodeIntKey(0x0102n, 2), Uint8Array.from([2, 1]));
  assert.deepEqual(encodeIntKey(2n ** 64n - 1n, 8), new Uint8Array(8).fill(255));
  assert.equal(decodeIntValue(Uint8Array.from([10, 0, 0, 0, 0, 0, 0, 0])), 10n);
  assert.equal(decodeIntValue(Uint8Array.from([1, 2, 3])), 0x030201n);
  for (const [v, size] of [
    [-1, 4],
    [256, 1],
    [1.5, 4],
    [Number.NaN, 4],
    [2 ** 32, 4],
    [2n ** 64n, 8],
    ['1', 4],
  ]) {
    assert.throws(
      () => encodeIntKey(v, size),
      (e) => e instanceof RangeError || e instanceof TypeError,
      `${String(v)}/${size}`,
    );
  }
  assert.throws(() => encodeIntKey(1, 3), /size must be 1, 2, 4 or 8/);
  assert.throws(() => decodeIntValue(new Uint8Array(9)), /1 to 8 bytes/);
});

test('*Int map operations use the map widths; bad integers throw RangeError and write nothing', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 2, valueSize: 8, maxEntries: 8 });
  m.updateInt(7, 2n ** 63n + 5n);
  m.updateInt(9n, 1);
  assert.equal(m.lookupInt(7), 2n ** 63n + 5n);
  assert.equal(m.lookupInt(8), undefined);
  assert.deepEqual(fromHex(bpftool('map', 'lookup', 'id', m.id, 'key', '7', '0').value), encodeIntKey(2n ** 63n + 5n, 8));
  const keys = [];
  for (let k = m.getNextKeyInt(); k !== undefined; k = m.getNextKeyInt(k)) keys.push(k);
  assert.deepEqual(keys.sort(), [7n, 9n]);
  assert.throws(
    () => m.updateInt(9, 1, { flags: BPF_NOEXIST }),
    (e) => e.code === 'EEXIST',
  );
  for (const bad of [-1, 65536, 1.5, Number.NaN, 2 ** 60]) assert.throws(() => m.updateInt(bad, 1), RangeError, String(bad));
  assert.throws(() => m.updateInt(1, -1), /value: expected an integer from 0 to 18446744073709551615, got -1/);
  assert.throws(() => m.updateInt(1, 2n ** 64n), RangeError);
  assert.equal(m.deleteInt(9), true);
  assert.equal(m.deleteInt(9), false);
  assert.deepEqual([...m.keys()].length, 1, 'nothing else was written');
  const wide = tmpMap(t, { type: MapType.Hash, keySize: 16, valueSize: 4, maxEntries: 1 });
  assert.throws(() => wide.lookupInt(1), /key_size of 1 to 8 bytes; this map's is 16/);
});

test('per-CPU lookupInt returns one bigint per possible CPU; updateInt takes one or one per CPU', (t) => {
  const n = possibleCpus();
  const m = tmpMap(t, { type: MapType.PercpuArray, keySize: 4, valueSize: 4, maxEntries: 2 });
  m.updateInt(0, 5);
  assert.deepEqual(m.lookupInt(0), Array(n).fill(5n));
  m.updateInt(
    1,
    Array.from({ length: n }, (_, i) => i * 10),
  );
  assert.deepEqual(
    m.lookupInt(1),
    Array.from({ length: n }, (_, i) => BigInt(i * 10)),
  );
  assert.throws(() => m.updateInt(1, [1]), n === 1 ? undefined : new RegExp(`expected ${n}, got 1`));
});

const everything = defineStruct('everything', {
  u8: 'u8',
  u16: 'u16',
  u32: 'u32',
  u64: 'u64',
  i8: 'i8',
  i16: 'i16',
  i32: 'i32',
  i64: 'i64',
  be16: 'be16',
  be32: 'be32',
  be64: 'be64',
  f32: 'f32',
  f64: 'f64',
  flag: 'bool',
  arr: array('u16', 3),
  name: cstring(8),
  nested: defineStruct('nested', { a: 'u8', b: 'i64' }),
});

test('every field type round-trips through a real map at its extremes', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: everything.size, maxEntries: 8 });
  const records = [
    everything.make(),
    {
      u8: 255,
      u16: 65535,
      u32: 4294967295,
      u64: 2n ** 64n - 1n,
      i8: -128,
      i16: -32768,
      i32: -2147483648,
      i64: -(2n ** 63n),
      be16: 0xabcd,
      be32: 0x0a000001,
      be64: 2n ** 53n + 1n,
      f32: -0.5,
      f64: Number.NaN,
      flag: true,
      arr: [0, 1, 65535],
      name: 'eightchr',
      nested: { a: 1, b: -1n },
    },
    {
      u8: 1,
      u16: 2,
      u32: 3,
      u64: 2n ** 53n + 1n,
      i8: 127,
      i16: 32767,
      i32: 2147483647,
      i64: 2n ** 63n - 1n,
      be16: 1,
      be32: 1,
      be64: 1n,
      f32: 1.5,
      f64: Number.POSITIVE_INFINITY,
      flag: false,
      arr: [3, 2, 1],
      name: 'é',
      nested: { a: 255, b: 2n ** 62n },
    },
  ];
  for (const [i, r] of records.entries()) m.updateStructInt(i, r, everything);
  for (const [i, r] of records.entries()) assert.deepEqual(m.lookupStructInt(i, everything), r);
  // Big-endian fields are in network order in the kernel's copy.
  const raw = m.lookup(u32.encode(1));
  const be16At = everything.fields.find((f) => f.name === 'be16').offset;
  assert.deepEqual([raw[be16At], raw[be16At + 1]], [0xab, 0xcd]);
});

test('bad records throw naming the field path, before the syscall; nothing is written', (t) => {
  const flow = defineStruct('flow', {
    src: array('u32', 4),
    dst: 'u32',
    tag: cstring(4),
    inner: defineStruct('meta', { ok: 'bool' }),
  });
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: flow, maxEntries: 4 });
  const good = { src: [1, 2, 3, 4], dst: 5, tag: 'abc', inner: { ok: true } };
  const cases = [
    [{ ...good, src: [1, 2, -3, 4] }, RangeError, /^flow\.src\[2\]: expected an integer from 0 to 4294967295, got -3/],
    [{ ...good, src: [1, 2, 3] }, RangeError, /^flow\.src: expected an array of 4 u32/],
    [{ ...good, dst: undefined }, TypeError, /^flow\.dst: missing field \(expected u32\)/],
    [{ ...good, extra: 1 }, TypeError, /^flow\.extra: unknown field \(struct flow has src, dst, tag, inner\)/],
    [{ ...good, tag: 'abcde' }, RangeError, /^flow\.tag: expected a string of at most 4 bytes, got 5 bytes/],
    [{ ...good, dst: '5' }, TypeError, /^flow\.dst: expected an integer .*got "5"/],
    [{ ...good, inner: { ok: 1 } }, TypeError, /^flow\.inner\.ok: expected a boolean, got 1/],
    [{ ...good, dst: 2 ** 32 }, RangeError, /^flow\.dst/],
    [{ ...good, dst: 1.5 }, RangeError, /^flow\.dst/],
    [null, TypeError, /^flow: expected a flow record/],
  ];
  for (const [rec, cls, msg] of cases) {
    assert.throws(
      () => m.updateStructInt(1, rec, flow),
      (e) => e instanceof cls && msg.test(e.message),
      JSON.stringify(rec),
    );
    assert.throws(
      () => m.typed().set(1, rec),
      (e) => e instanceof cls && msg.test(e.message),
    );
  }
  assert.equal(m.getNextKey(), undefined, 'nothing was written');
  assert.throws(
    () => m.updateStructInt(1, good, defineStruct('small', { a: 'u8' })),
    /struct small is 1 bytes but the map's value_size is 28/,
  );
  assert.throws(() => flow.make({ nope: 1 }), /flow\.nope: unknown field/);
  assert.deepEqual(flow.make({ dst: 9 }), { src: [0, 0, 0, 0], dst: 9, tag: '', inner: { ok: false } });
  assert.throws(() => defineStruct('x', { a: 'u128' }), /unknown field type "u128"/);
  assert.throws(() => defineStruct('bad name', { a: 'u8' }), /C identifier/);
  assert.throws(() => array('u8', 0), RangeError);
  assert.equal(bpfSpinLock.size, 4);
});

test('struct keys and values: update, lookup, delete and iterate with the *Struct operations', (t) => {
  const key = defineStruct('fkey', { src: 'be32', dst: 'be32', port: 'be16' });
  const stats = defineStruct('stats', { packets: 'u64', drops: 'u64' });
  const m = tmpMap(t, { type: MapType.Hash, keySize: key.size, valueSize: stats.size, maxEntries: 8 });
  const k1 = { src: 0x0a000001, dst: 0x0a000002, port: 443 };
  m.updateStruct(key.encode(k1), { packets: 10n, drops: 2n }, stats);
  assert.deepEqual(m.lookupStruct(key.encode(k1), stats), { packets: 10n, drops: 2n });
  assert.deepEqual(m.getNextKeyStruct(key), k1);
  assert.equal(m.getNextKeyStruct(key, k1), undefined);
  // bpftool sees the key in network order.
  assert.deepEqual(bpftool('map', 'dump', 'id', m.id)[0].key, [
    '0x0a',
    '0x00',
    '0x00',
    '0x01',
    '0x0a',
    '0x00',
    '0x00',
    '0x02',
    '0x01',
    '0xbb',
    '0x00',
    '0x00',
  ]);
  assert.equal(m.deleteStruct(k1, key), true);
  assert.equal(m.deleteStruct(k1, key), false);
  assert.equal(be16.encode(443)[0], 1);
  assert.equal(be32.decode(Uint8Array.from([10, 0, 0, 1])), 0x0a000001);
  assert.equal(u64.size, 8);
});
