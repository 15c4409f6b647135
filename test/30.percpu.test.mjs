// Per-CPU maps: one value per possible CPU, each slot 8-byte aligned, checked against bpftool's per-CPU dump.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MapType, parseCpuList, possibleCpus } from 'bpfmap';
import { bpftool, fromHex, tmpMap, u32 } from './helpers/kernel.mjs';

test('possibleCpus counts /sys/devices/system/cpu/possible; parseCpuList reads ranges', () => {
  const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8');
  assert.equal(possibleCpus(), parseCpuList(text).length);
  assert.deepEqual(parseCpuList('0-3,8-11\n'), [0, 1, 2, 3, 8, 9, 10, 11]);
  assert.deepEqual(parseCpuList('0'), [0]);
  assert.deepEqual(parseCpuList('0,2-3'), [0, 2, 3]);
  assert.throws(() => parseCpuList('a-b'), RangeError);
  assert.throws(() => parseCpuList('3-1'), /runs backwards/);
});

for (const [name, type] of [
  ['percpu_hash', MapType.PercpuHash],
  ['percpu_array', MapType.PercpuArray],
  ['lru_percpu_hash', MapType.LruPercpuHash],
]) {
  test(`${name}: per-CPU values written one per CPU read back per CPU, by us and by bpftool`, (t) => {
    const n = possibleCpus();
    // value_size 5 makes each kernel slot 8 bytes: the padding must not leak into values.
    const m = tmpMap(t, { type, keySize: 4, valueSize: 5, maxEntries: 4 });
    assert.equal(m.valueBufferSize, 8 * n);
    const perCpu = Array.from({ length: n }, (_, c) => Uint8Array.from([c + 1, 2, 3, 4, 0xf0 + c]));
    m.update(u32(1), perCpu);
    const got = m.lookup(u32(1));
    assert.ok(Array.isArray(got));
    assert.equal(got.length, n);
    for (const [c, v] of got.entries()) assert.deepEqual(v, perCpu[c]);
    const dump = bpftool('map', 'dump', 'id', m.id).find((e) => fromHex(e.key)[0] === 1);
    assert.equal(dump.values.length, n);
    for (const { cpu, value } of dump.values) assert.deepEqual(fromHex(value), perCpu[cpu]);
    // One value is copied to every CPU.
    m.update(u32(2), Uint8Array.from([9, 9, 9, 9, 9]));
    for (const v of m.lookup(u32(2))) assert.deepEqual(v, Uint8Array.from([9, 9, 9, 9, 9]));
  });
}

test('per-CPU updates with the wrong number of values or sizes throw naming the expected count', (t) => {
  const n = possibleCpus();
  const m = tmpMap(t, { type: MapType.PercpuHash, keySize: 4, valueSize: 4, maxEntries: 4 });
  assert.throws(
    () =>
      m.update(
        u32(1),
        Array.from({ length: n + 1 }, () => new Uint8Array(4)),
      ),
    (e) => e instanceof RangeError && new RegExp(`expected ${n}, got ${n + 1}`).test(e.message),
  );
  assert.throws(
    () => m.update(u32(1), [new Uint8Array(3), ...Array.from({ length: n - 1 }, () => new Uint8Array(4))]),
    (e) => e instanceof RangeError && /value\[0\] must be 4 bytes/.test(e.message),
  );
  assert.throws(
    () => m.update(u32(1), new Uint8Array(6)),
    // A wrong size is a RangeError here as everywhere (issue 13, item 16).
    (e) => e instanceof RangeError && /copied to every CPU/.test(e.message),
  );
  assert.equal(m.getNextKey(), undefined, 'nothing was written');
  assert.throws(
    () => m.lookup(u32(1), { out: new Uint8Array(4) }),
    (e) => e instanceof RangeError && /roundUp\(valueSize, 8\)/.test(e.message),
  );
  // The kernel's own layout is accepted as is.
  const flat = new Uint8Array(8 * n);
  flat[0] = 42;
  m.update(u32(1), flat);
  assert.equal(m.lookup(u32(1))[0][0], 42);
});
