// Element operations on the real kernel: results, errno codes, and contents read back through bpftool.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_F_RDONLY, BPF_F_WRONLY, BPF_NOEXIST, BpfError, BpfMap, MapType } from 'bpfmap';
import { bpftool, fromHex, pinPath, readU32, readU64, tmpMap, u32, u64 } from './helpers/kernel.mjs';

const hashTypes = [
  ['hash', MapType.Hash],
  ['lru_hash', MapType.LruHash],
];

for (const [name, type] of hashTypes) {
  test(`${name}: update flags ANY/NOEXIST/EXIST and their errnos`, (t) => {
    const m = tmpMap(t, { type, keySize: 4, valueSize: 8, maxEntries: 16 });
    m.update(u32(1), u64(10));
    assert.equal(readU64(m.lookup(u32(1))), 10n);
    m.update(u32(1), u64(11), { flags: BPF_ANY });
    assert.equal(readU64(m.lookup(u32(1))), 11n);
    assert.throws(
      () => m.update(u32(1), u64(12), { flags: BPF_NOEXIST }),
      (e) => {
        assert.ok(e instanceof BpfError);
        assert.deepEqual([e.code, e.errno, e.command], ['EEXIST', 17, 'BPF_MAP_UPDATE_ELEM']);
        assert.match(e.message, /BPF_MAP_UPDATE_ELEM: EEXIST \(the key exists and BPF_NOEXIST was given\)/);
        return true;
      },
    );
    assert.equal(readU64(m.lookup(u32(1))), 11n, 'a refused update changes nothing');
    assert.throws(
      () => m.update(u32(2), u64(1), { flags: BPF_EXIST }),
      (e) => e.code === 'ENOENT' && e.errno === 2,
    );
    assert.equal(m.lookup(u32(2)), undefined, 'a refused EXIST update creates nothing');
    m.update(u32(2), u64(20), { flags: BPF_NOEXIST });
    m.update(u32(2), u64(21), { flags: BPF_EXIST });
    assert.equal(readU64(m.lookup(u32(2))), 21n);
  });
}

test('hash: a full map refuses a new key with E2BIG naming max_entries; existing keys still update', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 });
  for (let i = 0; i < 8; i++) m.update(u32(i), u32(i));
  assert.throws(
    () => m.update(u32(100), u32(1)),
    (e) => e.code === 'E2BIG' && /map full: max_entries=8/.test(e.message),
  );
  m.update(u32(3), u32(33));
  assert.equal(readU32(m.lookup(u32(3))), 33);
  assert.equal([...m.keys()].length, 8);
});

test('lru_hash evicts instead of failing when full', (t) => {
  const m = tmpMap(t, { type: MapType.LruHash, keySize: 4, valueSize: 4, maxEntries: 64 });
  for (let i = 0; i < 1000; i++) m.update(u32(i), u32(i));
  const n = [...m.keys()].length;
  assert.ok(n > 0 && n <= 64, `${n} entries`);
  assert.equal(readU32(m.lookup(u32(999))), 999, 'the newest key is present');
});

test('array: every index exists and starts zeroed; NOEXIST gives EEXIST; out of range; delete is EINVAL', (t) => {
  const m = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 });
  assert.deepEqual(m.lookup(u32(3)), new Uint8Array(8));
  assert.equal(m.lookup(u32(4)), undefined, 'index past max_entries is absent');
  assert.throws(
    () => m.update(u32(0), u64(1), { flags: BPF_NOEXIST }),
    (e) => e.code === 'EEXIST' && /every index always exists/.test(e.message),
  );
  assert.throws(
    () => m.update(u32(4), u64(1)),
    (e) => e.code === 'E2BIG' && /index out of range: max_entries=4/.test(e.message),
  );
  m.update(u32(2), u64(0xdeadbeefn), { flags: BPF_EXIST });
  assert.throws(
    () => m.delete(u32(2)),
    (e) => e.code === 'EINVAL' && e.command === 'BPF_MAP_DELETE_ELEM' && /cannot be deleted/.test(e.message),
  );
  assert.equal(readU64(m.lookup(u32(2))), 0xdeadbeefn);
});

test('delete returns true when the key existed and false when absent', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
  m.update(u32(1), u32(1));
  assert.equal(m.delete(u32(1)), true);
  assert.equal(m.delete(u32(1)), false);
  assert.equal(m.lookup(u32(1)), undefined);
});

test('lookupAndDelete on a hash returns the value and removes it', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
  m.update(u32(5), u64(55));
  assert.equal(readU64(m.lookupAndDelete(u32(5))), 55n);
  assert.equal(m.lookup(u32(5)), undefined);
  assert.equal(m.lookupAndDelete(u32(5)), undefined);
});

test('getNextKey: from none the first key, from the last the end, from a missing key the first key again', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 });
  assert.equal(m.getNextKey(), undefined, 'empty map');
  for (const k of [10, 20, 30]) m.update(u32(k), u32(k));
  const first = m.getNextKey();
  const order = [first];
  for (let k = m.getNextKey(first); k; k = m.getNextKey(k)) order.push(k);
  assert.deepEqual(
    order.map(readU32).sort((a, b) => a - b),
    [10, 20, 30],
  );
  assert.equal(m.getNextKey(order[2]), undefined, 'after the last key: the end');
  assert.deepEqual(m.getNextKey(u32(999)), first, 'a missing key restarts at the first key');
  const arr = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 3 });
  assert.deepEqual([...arr.keys()].map(readU32), [0, 1, 2]);
  assert.equal(arr.getNextKey(u32(2)), undefined);
});

test('entries() and iteration yield every pair once', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 100 });
  for (let i = 0; i < 50; i++) m.update(u32(i), u32(i * 2));
  const seen = new Map();
  for (const [k, v] of m) seen.set(readU32(k), readU32(v));
  assert.equal(seen.size, 50);
  for (const [k, v] of seen) assert.equal(v, k * 2);
});

test('freeze: later syscall updates and deletes fail with EPERM, saying the map is frozen', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
  m.update(u32(1), u32(1));
  m.freeze();
  assert.equal(bpftool('map', 'show', 'id', m.id).frozen, 1);
  assert.throws(
    () => m.update(u32(2), u32(2)),
    (e) => e.code === 'EPERM' && /frozen/.test(e.message),
  );
  assert.throws(
    () => m.delete(u32(1)),
    (e) => e.code === 'EPERM',
  );
  assert.equal(readU32(m.lookup(u32(1))), 1, 'reads still work');
  assert.throws(
    () => m.freeze(),
    (e) => e.code === 'EPERM' && /frozen/.test(e.message),
    'freezing twice',
  );
});

test('BPF_F_RDONLY / BPF_F_WRONLY maps refuse syscall writes / reads with EPERM', (t) => {
  const ro = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1, flags: BPF_F_RDONLY });
  assert.throws(
    () => ro.update(u32(0), u32(1)),
    (e) => e.code === 'EPERM' && /read-only \(BPF_F_RDONLY/.test(e.message),
  );
  assert.deepEqual(ro.lookup(u32(0)), new Uint8Array(4));
  const wo = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1, flags: BPF_F_WRONLY });
  wo.update(u32(0), u32(1));
  assert.throws(
    () => wo.lookup(u32(0)),
    (e) => e.code === 'EPERM' && /write-only \(BPF_F_WRONLY/.test(e.message),
  );
});

test('BPF_F_LOCK on a value without a BTF spin lock is EINVAL with a hint', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
  assert.throws(
    () => m.update(u32(1), u64(1), { flags: BPF_F_LOCK }),
    (e) => e.code === 'EINVAL' && /bpf_spin_lock described by BTF/.test(e.message),
  );
});

test('lookup with out fills and returns the given buffer', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
  m.update(u32(1), u64(77));
  const out = new Uint8Array(8);
  assert.equal(m.lookup(u32(1), { out }), out);
  assert.equal(readU64(out), 77n);
  assert.throws(
    () => m.lookup(u32(1), { out: new Uint8Array(7) }),
    (e) => e instanceof RangeError && /out must be 8 bytes/.test(e.message),
  );
});

test('every key and value size round-trips through the fast paths, as bpftool sees it', (t) => {
  // The call block copies 4 and 8 bytes unrolled, other sizes up to 32 in a
  // loop and larger ones with set(): each shape, both sides, against the kernel.
  const sizes = [1, 3, 4, 5, 8, 9, 16, 32, 33, 100];
  const bytes = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 7 + 1) & 0xff);
  for (const ks of sizes) {
    for (const vs of [1, 4, 8, 12, 33, 256]) {
      const m = tmpMap(t, { type: MapType.Hash, keySize: ks, valueSize: vs, maxEntries: 4 });
      const k1 = bytes(ks, 1);
      const k2 = bytes(ks, 2);
      m.update(k1, bytes(vs, 3));
      m.update(k2, bytes(vs, 4));
      const where = `key ${ks}, value ${vs}`;
      assert.deepEqual(m.lookup(k1), bytes(vs, 3), where);
      // out at an odd offset inside a larger buffer: the bytes around it stay untouched
      const big = new Uint8Array(vs + 3).fill(0xee);
      const out = big.subarray(1, 1 + vs);
      assert.equal(m.lookup(k2, { out }), out, where);
      assert.deepEqual(out, bytes(vs, 4), where);
      assert.equal(big[0], 0xee, where);
      assert.equal(big[vs + 1], 0xee, where);
      const dump = bpftool('map', 'dump', 'id', m.id);
      const seen = new Map(dump.map((e) => [Buffer.from(fromHex(e.key)).toString('hex'), fromHex(e.value)]));
      assert.deepEqual(seen.get(Buffer.from(k1).toString('hex')), bytes(vs, 3), where);
      assert.deepEqual(seen.get(Buffer.from(k2).toString('hex')), bytes(vs, 4), where);
      assert.equal(m.delete(k1), true, where);
      assert.equal(m.delete(k1), false, where);
      assert.equal(m.lookup(k1), undefined, where);
      assert.deepEqual(m.lookupAndDelete(k2), bytes(vs, 4), where);
      assert.equal(bpftool('map', 'dump', 'id', m.id).length, 0, where);
      m.close();
    }
  }
});

test('what the library writes, bpftool reads; what bpftool writes, the library reads', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, name: 'crosscheck', keySize: 4, valueSize: 8, maxEntries: 8 });
  m.update(u32(7), u64(0x0102030405060708n));
  const dump = bpftool('map', 'dump', 'id', m.id);
  assert.equal(dump.length, 1);
  assert.deepEqual(fromHex(dump[0].key), u32(7));
  assert.deepEqual(fromHex(dump[0].value), u64(0x0102030405060708n));
  execFileSync('bpftool', [
    'map',
    'update',
    'id',
    String(m.id),
    'key',
    'hex',
    '09',
    '00',
    '00',
    '00',
    'value',
    'hex',
    'aa',
    'bb',
    'cc',
    'dd',
    '00',
    '00',
    '00',
    '01',
  ]);
  assert.deepEqual(m.lookup(u32(9)), Uint8Array.from([0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 1]));
  const path = pinPath(t, 'bt_created');
  execFileSync('bpftool', ['map', 'create', path, 'type', 'array', 'key', '4', 'value', '4', 'entries', '2', 'name', 'bt_arr']);
  execFileSync('bpftool', ['map', 'update', 'pinned', path, 'key', '1', '0', '0', '0', 'value', '42', '0', '0', '0']);
  const b = BpfMap.openPinned(path);
  t.after(() => b.close());
  assert.equal(readU32(b.lookup(u32(1))), 42);
});

test('wrong-sized or wrongly typed keys and values throw before the syscall, and nothing is written', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
  const bad = [
    [() => m.update(new Uint8Array(3), u64(1)), RangeError, /key must be 4 bytes \(the map's key_size\), got 3/],
    [() => m.update(new Uint8Array(5), u64(1)), RangeError, /key must be 4 bytes/],
    [() => m.update(u32(1), new Uint8Array(7)), RangeError, /value must be 8 bytes \(the map's value_size\), got 7/],
    [() => m.update(u32(1), new Uint8Array(9)), RangeError, /value must be 8 bytes/],
    [() => m.update('abcd', u64(1)), TypeError, /key must be a Uint8Array of 4 bytes .* got "abcd"/],
    [() => m.update(u32(1), [1, 2]), TypeError, /value must be a Uint8Array of 8 bytes/],
    [() => m.update(new Uint32Array(1), u64(1)), TypeError, /got Uint32Array/],
    [() => m.update(null, u64(1)), TypeError, /key must be a Uint8Array/],
    [() => m.lookup(new Uint8Array(2)), RangeError, /key must be 4 bytes/],
    [() => m.delete(undefined), TypeError, /key must be a Uint8Array/],
    [() => m.getNextKey(new Uint8Array(8)), RangeError, /key must be 4 bytes/],
    [() => m.update(u32(1), u64(1), { flags: -1 }), RangeError, /flags must be an integer/],
    [() => m.update(u32(1), u64(1), { flags: 1.5 }), RangeError, /flags/],
    [() => m.pin(''), TypeError, /path must be a non-empty path/],
    [() => m.push(u64(1)), TypeError, /push\(\) is for queue, stack and bloom filter maps/],
  ];
  for (const [fn, cls, msg] of bad) assert.throws(fn, (e) => e instanceof cls && msg.test(e.message), String(fn));
  assert.equal(m.getNextKey(), undefined, 'nothing was written');
});

test('a closed map throws EBADF before any syscall and never touches the object that reuses its fd', (t) => {
  const a = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
  const fd = a.fd;
  a.close();
  // The next map gets the same fd number; the closed one must not reach it.
  const b = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
  assert.equal(b.fd, fd, 'the fd number was reused');
  const ops = [
    ['BPF_MAP_UPDATE_ELEM', () => a.update(u32(1), u32(1))],
    ['BPF_MAP_LOOKUP_ELEM', () => a.lookup(u32(1))],
    ['BPF_MAP_DELETE_ELEM', () => a.delete(u32(1))],
    ['BPF_MAP_LOOKUP_AND_DELETE_ELEM', () => a.lookupAndDelete(u32(1))],
    ['BPF_MAP_GET_NEXT_KEY', () => a.getNextKey()],
    ['BPF_MAP_GET_NEXT_KEY', () => a.keys()],
    ['BPF_MAP_FREEZE', () => a.freeze()],
    ['BPF_OBJ_PIN', () => a.pin('/sys/fs/bpf/never')],
    ['BPF_OBJ_GET_INFO_BY_FD', () => a.info()],
  ];
  for (const [command, fn] of ops) {
    assert.throws(
      fn,
      (e) => e instanceof BpfError && e.code === 'EBADF' && e.errno === 9 && e.command === command && /closed/.test(e.message),
      command,
    );
  }
  assert.equal(b.getNextKey(), undefined, 'the map now at that fd is untouched');
  assert.equal(bpftool('map', 'show', 'id', b.id).frozen, 0);
});

test('queue and stack: push, peek, pop with the kernel semantics', (t) => {
  const q = tmpMap(t, { type: MapType.Queue, keySize: 0, valueSize: 4, maxEntries: 2 });
  assert.equal(q.pop(), undefined);
  assert.equal(q.peek(), undefined);
  q.push(u32(1));
  q.push(u32(2));
  assert.throws(
    () => q.push(u32(3)),
    (e) => e.code === 'E2BIG',
  );
  q.push(u32(3), { flags: BPF_EXIST });
  assert.equal(readU32(q.peek()), 2, 'BPF_EXIST overwrote the oldest');
  assert.equal(readU32(q.pop()), 2);
  assert.equal(readU32(q.pop()), 3);
  assert.throws(
    () => q.update(u32(1), u32(1)),
    (e) => e instanceof TypeError && /pass null as the key/.test(e.message),
  );
  const s = tmpMap(t, { type: MapType.Stack, keySize: 0, valueSize: 4, maxEntries: 4 });
  s.push(u32(1));
  s.push(u32(2));
  assert.equal(readU32(s.pop()), 2);
  assert.equal(readU32(s.pop()), 1);
});

test('bloom filter: pushed values are possibly present; absent values mostly are not', (t) => {
  const b = tmpMap(t, { type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 1000 });
  for (let i = 0; i < 100; i++) b.push(u32(i));
  for (let i = 0; i < 100; i++) assert.equal(b.peek(u32(i)), true);
  let falsePositives = 0;
  for (let i = 1000; i < 2000; i++) if (b.peek(u32(i))) falsePositives++;
  assert.ok(falsePositives < 100, `${falsePositives} false positives of 1000`);
  assert.throws(
    () => b.pop(),
    (e) => e instanceof BpfError,
  );
});
