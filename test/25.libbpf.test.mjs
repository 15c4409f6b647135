// The libbpf-shaped functions, with a BpfMap and with a plain fd number.
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { test } from 'node:test';
import {
  BPF_EXIST,
  BPF_NOEXIST,
  BpfError,
  BpfMap,
  MapType,
  bpfMapDeleteElem,
  bpfMapFreeze,
  bpfMapGetNextKey,
  bpfMapLookupAndDeleteElem,
  bpfMapLookupElem,
  bpfMapUpdateElem,
  bpfObjGet,
  bpfObjPin,
  possibleCpus,
} from 'bpfmap';
import { bpftool, fromHex, pinPath, readU32, readU64, tmpMap, u32, u64 } from './helpers/kernel.mjs';

for (const how of ['BpfMap', 'fd number']) {
  test(`element functions on a ${how}`, (t) => {
    const map = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
    const fd = how === 'BpfMap' ? map : map.fd;
    bpfMapUpdateElem(fd, u32(1), u64(100));
    bpfMapUpdateElem(fd, u32(2), u64(200), BPF_NOEXIST);
    assert.throws(
      () => bpfMapUpdateElem(fd, u32(2), u64(0), BPF_NOEXIST),
      (e) => e.code === 'EEXIST',
    );
    assert.throws(
      () => bpfMapUpdateElem(fd, u32(3), u64(0), BPF_EXIST),
      (e) => e.code === 'ENOENT',
    );
    const v = new Uint8Array(8);
    assert.equal(bpfMapLookupElem(fd, u32(1), v), true);
    assert.equal(readU64(v), 100n);
    assert.equal(bpfMapLookupElem(fd, u32(9), v), false);
    const next = new Uint8Array(4);
    const keys = [];
    for (let k = null; bpfMapGetNextKey(fd, k, next); k = next.slice()) keys.push(readU32(next));
    assert.deepEqual(keys.sort(), [1, 2]);
    assert.equal(bpfMapLookupAndDeleteElem(fd, u32(2), v), true);
    assert.equal(readU64(v), 200n);
    assert.equal(bpfMapLookupAndDeleteElem(fd, u32(2), v), false);
    assert.equal(bpfMapDeleteElem(fd, u32(1)), true);
    assert.equal(bpfMapDeleteElem(fd, u32(1)), false);
    assert.deepEqual(bpftool('map', 'dump', 'id', map.id), []);
  });
}

test('buffers may be larger than needed but never smaller; the kernel writes only its sizes', (t) => {
  const map = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
  bpfMapUpdateElem(map.fd, new Uint8Array([1, 0, 0, 0, 0xff]), new Uint8Array([7, 0, 0, 0, 0xff]));
  assert.deepEqual(fromHex(bpftool('map', 'dump', 'id', map.id)[0].value), u32(7));
  const big = new Uint8Array(16).fill(0xee);
  assert.equal(bpfMapLookupElem(map.fd, u32(1), big), true);
  assert.deepEqual([...big], [7, 0, 0, 0, ...new Array(12).fill(0xee)], 'bytes past value_size untouched');
  assert.throws(
    () => bpfMapLookupElem(map.fd, u32(1), new Uint8Array(3)),
    (e) => e instanceof RangeError && /value must be at least 4 bytes/.test(e.message),
  );
  assert.throws(
    () => bpfMapUpdateElem(map.fd, new Uint8Array(3), u32(1)),
    (e) => e instanceof RangeError && /key must be at least 4 bytes/.test(e.message),
  );
  assert.throws(() => bpfMapGetNextKey(map.fd, null, new Uint8Array(2)), RangeError);
});

test('a per-CPU value buffer must hold roundUp(valueSize, 8) × possibleCpus() bytes', (t) => {
  const map = tmpMap(t, { type: MapType.PercpuArray, keySize: 4, valueSize: 4, maxEntries: 1 });
  const need = 8 * possibleCpus();
  assert.throws(
    () => bpfMapLookupElem(map.fd, u32(0), new Uint8Array(4)),
    (e) => e instanceof RangeError && new RegExp(`at least ${need} bytes`).test(e.message),
  );
  const v = new Uint8Array(need);
  for (let c = 0; c < possibleCpus(); c++) v[c * 8] = c + 1;
  bpfMapUpdateElem(map, u32(0), v);
  const back = new Uint8Array(need);
  assert.equal(bpfMapLookupElem(map, u32(0), back), true);
  assert.deepEqual(back, v);
});

test('a plain fd that is not a map, or not open, is refused before the element syscall', () => {
  assert.throws(
    () => bpfMapLookupElem(0, u32(0), new Uint8Array(8)),
    (e) => e instanceof TypeError && /fd 0 is .*not a BPF map/.test(e.message),
  );
  assert.throws(
    () => bpfMapLookupElem(99999, u32(0), new Uint8Array(8)),
    (e) => e instanceof BpfError && e.code === 'EBADF' && /not open/.test(e.message),
  );
  assert.throws(() => bpfMapLookupElem(-3, u32(0), new Uint8Array(8)), RangeError);
  assert.throws(() => bpfMapLookupElem('3', u32(0), new Uint8Array(8)), TypeError);
  const map = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
  map.close();
  assert.throws(
    () => bpfMapUpdateElem(map, u32(0), u32(0)),
    (e) => e.code === 'EBADF' && e.command === 'BPF_MAP_UPDATE_ELEM',
  );
});

test('bpfMapFreeze, bpfObjPin and bpfObjGet', (t) => {
  const map = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 2 });
  const path = pinPath(t, 'libbpf_pin');
  bpfMapUpdateElem(map, u32(1), u32(5));
  bpfObjPin(map, path);
  assert.throws(
    () => bpfObjPin(map.fd, path),
    (e) => e.code === 'EEXIST' && e.command === 'BPF_OBJ_PIN',
  );
  const fd = bpfObjGet(path);
  t.after(() => closeSync(fd)); // fromFd wraps a duplicate: this fd stays the caller's
  const again = BpfMap.fromFd(fd);
  t.after(() => again.close());
  assert.equal(again.id, map.id);
  bpfMapFreeze(fd);
  assert.throws(
    () => bpfMapUpdateElem(map, u32(1), u32(6)),
    (e) => e.code === 'EPERM' && /frozen/.test(e.message),
  );
  const v = new Uint8Array(4);
  bpfMapLookupElem(map, u32(1), v);
  assert.equal(readU32(v), 5);
  assert.throws(
    () => bpfObjPin(map, '/tmp/not-bpffs-pin'),
    (e) => e instanceof BpfError && /bpffs/.test(e.message),
  );
});
