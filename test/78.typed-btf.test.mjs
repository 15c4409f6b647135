// typed() and typedPerCpu() with no arguments on a map opened by id (no codecs remembered): the
// map's BTF describes it, as typedFromBtf() does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfMap, MapType, defineStruct, possibleCpus, u32 } from 'bpfmap';
import { tmpMap } from './helpers/kernel.mjs';

const stats = defineStruct('tstats', { packets: 'u64', drops: 'u32' });

test('typedPerCpu() with no arguments reads a per-CPU map through its BTF', (t) => {
  const made = tmpMap(t, { type: MapType.PercpuHash, key: u32, value: stats, maxEntries: 4 });
  made.typedPerCpu().set(3, { packets: 10n, drops: 1 });
  const opened = BpfMap.fromId(made.id);
  t.after(() => opened.close());
  const tm = opened.typedPerCpu();
  assert.equal(tm.valueType.name, 'struct tstats');
  const got = tm.get(3);
  assert.equal(got.length, possibleCpus());
  for (const v of got) assert.deepEqual(v, { packets: 10n, drops: 1 });
});

test('typed() with no arguments reads a hash map through its BTF, and still refuses a map without BTF', (t) => {
  const made = tmpMap(t, { type: MapType.Hash, key: u32, value: stats, maxEntries: 4 });
  made.typed().set(1, { packets: 5n, drops: 2 });
  const opened = BpfMap.fromId(made.id);
  t.after(() => opened.close());
  assert.deepEqual(opened.typed().get(1), { packets: 5n, drops: 2 });
  assert.deepEqual([...opened.typed().keys()], [1]);
  const bare = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
  const again = BpfMap.fromId(bare.id);
  t.after(() => again.close());
  assert.throws(() => again.typed(), /typed\(\) needs a key type and a value type/);
});
