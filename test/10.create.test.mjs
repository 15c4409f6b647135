// Creating maps and opening existing ones: properties come back from the kernel, bad options throw before any syscall.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { test } from 'node:test';
import {
  BPF_F_NO_PREALLOC,
  BPF_F_NUMA_NODE,
  BPF_F_RDONLY,
  BpfError,
  BpfMap,
  MapType,
  bpfMapCreate,
  bpfObjGet,
  listMaps,
} from 'bpfmap';
import { bpftool, closeAfter, ensureBpffs, openFdCount, pinPath, tmpMap } from './helpers/kernel.mjs';

const kinds = [
  ['hash', MapType.Hash],
  ['array', MapType.Array],
  ['percpu_hash', MapType.PercpuHash],
  ['percpu_array', MapType.PercpuArray],
  ['lru_hash', MapType.LruHash],
  ['lru_percpu_hash', MapType.LruPercpuHash],
];

for (const [name, type] of kinds) {
  test(`create ${name}: properties match what bpftool sees`, (t) => {
    const m = tmpMap(t, { type, name: `t_${name}`.slice(0, 15), keySize: 4, valueSize: 12, maxEntries: 64 });
    assert.equal(m.type, type);
    assert.equal(m.keySize, 4);
    assert.equal(m.valueSize, 12);
    assert.equal(m.maxEntries, 64);
    assert.equal(m.isPerCpu, name.includes('percpu'));
    assert.ok(m.id > 0);
    assert.equal(m.closed, false);
    const shown = bpftool('map', 'show', 'id', m.id);
    assert.equal(shown.type, name);
    assert.equal(shown.name, `t_${name}`.slice(0, 15));
    assert.equal(shown.bytes_key, 4);
    assert.equal(shown.bytes_value, 12);
    assert.equal(shown.max_entries, 64);
    const info = m.info();
    assert.equal(info.id, m.id);
    assert.equal(info.name, m.name);
  });
}

test('bpfMapCreate takes libbpf positional arguments and options', (t) => {
  const m = closeAfter(t, bpfMapCreate(MapType.Hash, 'positional', 8, 16, 10, { mapFlags: BPF_F_NO_PREALLOC }));
  assert.equal(m.name, 'positional');
  assert.equal(m.flags, BPF_F_NO_PREALLOC);
  assert.equal(bpftool('map', 'show', 'id', m.id).flags, BPF_F_NO_PREALLOC);
  const anon = closeAfter(t, bpfMapCreate(MapType.Array, null, 4, 4, 1));
  assert.equal(anon.name, '');
  const numa = closeAfter(t, bpfMapCreate(MapType.Hash, 'numa', 4, 4, 1, { numaNode: 0 }));
  assert.equal(numa.flags & BPF_F_NUMA_NODE, BPF_F_NUMA_NODE, 'numaNode sets BPF_F_NUMA_NODE');
  const bloom = closeAfter(t, bpfMapCreate(MapType.BloomFilter, 'bloom', 0, 4, 100, { mapExtra: 3 }));
  assert.equal(bloom.info().mapExtra, 3n);
});

test('array of maps from an inner map template, given as a BpfMap or an fd', (t) => {
  const inner = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 2 });
  const outer = closeAfter(t, bpfMapCreate(MapType.ArrayOfMaps, 'outer', 4, 4, 2, { innerMap: inner }));
  outer.update(new Uint8Array(4), inner);
  const id = outer.lookup(new Uint8Array(4));
  assert.equal(new DataView(id.buffer).getUint32(0, true), inner.id, 'lookup returns the inner map id');
  const byFd = closeAfter(t, bpfMapCreate(MapType.HashOfMaps, 'outer2', 4, 4, 2, { innerMapFd: inner.fd }));
  assert.equal(byFd.type, MapType.HashOfMaps);
  assert.throws(
    () => BpfMap.create({ type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 1 }),
    (e) => e instanceof BpfError && e.code === 'EINVAL' && /inner map template/.test(e.message),
  );
});

test('map names: null, 15 characters and A-Za-z0-9_. are accepted; anything else throws before the syscall', (t) => {
  closeAfter(t, BpfMap.create({ type: MapType.Hash, name: 'Abc_9.xyzABCDEF', keySize: 4, valueSize: 4, maxEntries: 1 }));
  closeAfter(t, BpfMap.create({ type: MapType.Hash, name: null, keySize: 4, valueSize: 4, maxEntries: 1 }));
  const before = listMaps().length;
  assert.throws(() => BpfMap.create({ type: MapType.Hash, name: 'x'.repeat(16), keySize: 4, valueSize: 4, maxEntries: 1 }), {
    name: 'RangeError',
    message: /16 characters; the kernel takes at most 15/,
  });
  assert.throws(() => BpfMap.create({ type: MapType.Hash, name: 'bad-name', keySize: 4, valueSize: 4, maxEntries: 1 }), {
    name: 'RangeError',
    message: /"-"; only A-Z a-z 0-9 _ \. are allowed/,
  });
  assert.throws(() => BpfMap.create({ type: MapType.Hash, name: 42, keySize: 4, valueSize: 4, maxEntries: 1 }), TypeError);
  assert.equal(listMaps().length, before, 'no map was created');
});

test('bad sizes and types throw TypeError/RangeError naming what was expected', () => {
  const base = { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 };
  const cases = [
    [{ ...base, keySize: -1 }, RangeError, /keySize must be an integer from 0 to 4294967295, got -1/],
    [{ ...base, valueSize: 1.5 }, RangeError, /valueSize must be an integer/],
    [{ ...base, maxEntries: '10' }, TypeError, /maxEntries must be an integer .* got "10"/],
    [{ ...base, keySize: undefined }, TypeError, /keySize is required/],
    [{ ...base, type: 0 }, RangeError, /BPF_MAP_TYPE_UNSPEC/],
    [{ ...base, type: 'hash' }, TypeError, /type must be an integer/],
    [{ ...base, flags: -4 }, RangeError, /flags/],
    [{ ...base, mapExtra: -1n }, RangeError, /mapExtra must be an unsigned 64-bit integer/],
    [{ ...base, innerMap: 3 }, TypeError, /innerMap must be a BpfMap/],
  ];
  for (const [opts, cls, msg] of cases)
    assert.throws(
      () => BpfMap.create(opts),
      (e) => e instanceof cls && msg.test(e.message),
      JSON.stringify(opts, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)),
    );
  assert.throws(() => BpfMap.create(null), TypeError);
});

test('EINVAL from BPF_MAP_CREATE names the suspect argument', () => {
  const cases = [
    [{ type: MapType.LpmTrie, keySize: 8, valueSize: 4, maxEntries: 4 }, /requires BPF_F_NO_PREALLOC/],
    [{ type: MapType.Array, keySize: 8, valueSize: 4, maxEntries: 4 }, /needs key_size 4 \(got 8\)/],
    [{ type: MapType.Queue, keySize: 4, valueSize: 4, maxEntries: 4 }, /needs key_size 0 \(got 4\)/],
    [{ type: MapType.Hash, keySize: 4, valueSize: 0, maxEntries: 4 }, /value_size is 0/],
    [{ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 0 }, /max_entries is 0/],
    [{ type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 1000 }, /power of 2 multiple of the page size/],
  ];
  for (const [opts, hint] of cases) {
    assert.throws(
      () => BpfMap.create(opts),
      (e) => {
        assert.ok(e instanceof BpfError, String(e));
        assert.equal(e.code, 'EINVAL');
        assert.equal(e.errno, 22);
        assert.equal(e.command, 'BPF_MAP_CREATE');
        assert.match(e.message, /^BPF_MAP_CREATE: EINVAL \(/);
        assert.match(e.message, hint);
        return true;
      },
    );
  }
  assert.throws(
    () => BpfMap.create({ type: 200, keySize: 4, valueSize: 4, maxEntries: 1 }),
    (e) => e.name === 'BpfUnsupportedError' && e.code === 'EINVAL' && /map type 200 needs Linux a newer release/.test(e.message),
  );
});

test('fromId opens a map created by bpftool, with its properties read from the kernel', (t) => {
  const path = pinPath(t, 'fromid');
  execFileSync('bpftool', [
    'map',
    'create',
    path,
    'type',
    'hash',
    'key',
    '8',
    'value',
    '16',
    'entries',
    '32',
    'name',
    'by_bpftool',
  ]);
  const id = bpftool('map', 'show', 'pinned', path).id;
  const m = closeAfter(t, BpfMap.fromId(id));
  assert.deepEqual(
    { id: m.id, type: m.type, name: m.name, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries },
    { id, type: MapType.Hash, name: 'by_bpftool', keySize: 8, valueSize: 16, maxEntries: 32 },
  );
  assert.throws(
    () => BpfMap.fromId(0x7fffffff),
    (e) => e.code === 'ENOENT' && /no map with that id/.test(e.message),
  );
});

test('fromFd wraps its own duplicate of a map fd; the caller keeps theirs; non-map and closed fds are refused', (t) => {
  ensureBpffs();
  const src = tmpMap(t, { type: MapType.Hash, name: 'fromfd', keySize: 4, valueSize: 4, maxEntries: 4 });
  const path = pinPath(t, 'fromfd');
  src.pin(path);
  const raw = bpfObjGet(path);
  const m = BpfMap.fromFd(raw);
  assert.equal(m.id, src.id);
  assert.notEqual(m.fd, raw, 'the map owns a duplicate, not the number the caller holds');
  m.close();
  const again = BpfMap.fromFd(raw); // the caller's fd is still open
  assert.equal(again.id, src.id);
  again.close();
  closeSync(raw);
  assert.throws(
    () => BpfMap.fromFd(raw),
    (e) => e instanceof BpfError && e.code === 'EBADF',
    'a closed fd is refused',
  );
  assert.throws(
    () => BpfMap.fromFd(0),
    (e) => e instanceof TypeError && /fd 0 is .*not a BPF map/.test(e.message),
  );
  assert.throws(() => BpfMap.fromFd(-1), RangeError);
  assert.throws(() => new BpfMap(3, {}), TypeError, 'the constructor is not public');
});

test('openPinned: read-only opening refuses writes with EPERM; a pinned non-map is refused', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
  const path = pinPath(t, 'ro');
  m.pin(path);
  const ro = closeAfter(t, BpfMap.openPinned(path, { readOnly: true }));
  assert.equal(ro.id, m.id);
  m.update(new Uint8Array(4), new Uint8Array([9, 0, 0, 0]));
  assert.deepEqual(ro.lookup(new Uint8Array(4)), new Uint8Array([9, 0, 0, 0]));
  assert.throws(
    () => ro.update(new Uint8Array(4), new Uint8Array(4)),
    (e) => e.code === 'EPERM',
  );
  assert.throws(
    () => BpfMap.openPinned(`${path}_missing`),
    (e) => e.code === 'ENOENT' && e.command === 'BPF_OBJ_GET',
  );
  assert.throws(() => BpfMap.openPinned(''), TypeError);
  assert.equal(BPF_F_RDONLY, 8);
});

test('close is idempotent, releases the fd, and [Symbol.dispose] closes', () => {
  const before = openFdCount();
  const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.equal(openFdCount(), before + 1);
  m.close();
  m.close();
  assert.equal(m.closed, true);
  assert.equal(m.fd, -1);
  assert.equal(openFdCount(), before);
  const d = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
  d[Symbol.dispose]();
  assert.equal(d.closed, true);
  assert.equal(openFdCount(), before);
});

test('listMaps includes our maps with their sizes', (t) => {
  const m = tmpMap(t, { type: MapType.LruHash, name: 'listed', keySize: 4, valueSize: 8, maxEntries: 7 });
  const info = listMaps().find((i) => i.id === m.id);
  assert.ok(info);
  assert.equal(info.type, MapType.LruHash);
  assert.equal(info.name, 'listed');
  assert.equal(info.maxEntries, 7);
  // Agrees with bpftool on every map both see (maps may come and go between the two calls).
  const ours = new Map(listMaps().map((i) => [i.id, i]));
  const theirs = bpftool('map', 'show');
  let common = 0;
  for (const b of theirs) {
    const i = ours.get(b.id);
    if (!i) continue;
    common++;
    assert.deepEqual(
      [i.name, i.keySize, i.valueSize, i.maxEntries, i.flags],
      [b.name ?? '', b.bytes_key, b.bytes_value, b.max_entries, b.flags],
      `map ${b.id}`,
    );
  }
  assert.ok(common >= 1 && common >= theirs.length - 2, `${common} of ${theirs.length} maps seen by both`);
});
