// Typed maps, and iteration while a second process churns the map.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { BpfMap, MapType, defineStruct, possibleCpus, u32, u64 } from 'bpfmap';
import { bpftool, fromHex, pinPath, tmpMap } from './helpers/kernel.mjs';

const stats = defineStruct('stats', { packets: 'u64', drops: 'u32' });

test('typed(): a Map-shaped view with get/set/has/delete/keys/values/entries', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: stats, maxEntries: 16 });
  assert.equal(m.valueSize, 16, 'sizes come from the codecs');
  const tm = m.typed();
  assert.equal(tm.set(1, { packets: 10n, drops: 1 }), tm);
  tm.set(2, { packets: 20n, drops: 0 });
  assert.deepEqual(tm.get(1), { packets: 10n, drops: 1 });
  assert.equal(tm.get(3), undefined);
  assert.equal(tm.has(2), true);
  assert.equal(tm.has(3), false);
  assert.deepEqual([...tm.keys()].sort(), [1, 2]);
  assert.deepEqual(
    new Map(tm),
    new Map([
      [1, { packets: 10n, drops: 1 }],
      [2, { packets: 20n, drops: 0 }],
    ]),
  );
  assert.deepEqual([...tm.values()].map((v) => v.packets).sort(), [10n, 20n]);
  assert.equal(tm.delete(1), true);
  assert.equal(tm.delete(1), false);
  const dump = bpftool('map', 'dump', 'id', m.id);
  assert.deepEqual(stats.decode(fromHex(dump[0].value)), { packets: 20n, drops: 0 });
  const explicit = m.typed(u32, stats);
  assert.deepEqual(explicit.get(2), { packets: 20n, drops: 0 });
  assert.throws(() => m.typed(u64, stats), /key type u64 is 8 bytes but the map's key_size is 4/);
  const plain = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.throws(() => plain.typed(), /needs a key type and a value type/);
  assert.throws(
    () => BpfMap.create({ type: MapType.Hash, keySize: 8, key: u32, value: u32, maxEntries: 1 }),
    /keySize 8 disagrees with the key codec u32/,
  );
});

test('typed per-CPU maps: get returns one value per possible CPU, set takes one or one per CPU', (t) => {
  const n = possibleCpus();
  const m = tmpMap(t, { type: MapType.PercpuHash, key: u32, value: stats, maxEntries: 4 });
  const tm = m.typedPerCpu();
  tm.set(1, { packets: 5n, drops: 1 });
  assert.deepEqual(
    tm.get(1),
    Array.from({ length: n }, () => ({ packets: 5n, drops: 1 })),
  );
  const per = Array.from({ length: n }, (_, i) => ({ packets: BigInt(i), drops: i }));
  m.typed().set(2, per);
  assert.deepEqual(tm.get(2), per);
  const dump = bpftool('map', 'dump', 'id', m.id).find((e) => fromHex(e.key)[0] === 2);
  for (const { cpu, value } of dump.values) assert.deepEqual(stats.decode(fromHex(value)), per[cpu]);
  assert.throws(() => tmpMap(t, { type: MapType.Hash, key: u32, value: u32, maxEntries: 1 }).typedPerCpu(), /for per-CPU maps/);
});

test('iteration while a second process inserts and deletes: no key twice, the pass ends, stable keys all seen', async (t) => {
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: u32, maxEntries: 4096 });
  const stable = new Set();
  for (let k = 0; k < 500; k++) {
    m.updateInt(k, k);
    stable.add(k);
  }
  const path = pinPath(t, 'churn');
  m.pin(path);
  const child = spawn(process.execPath, [fileURLToPath(new URL('./helpers/churn-child.mjs', import.meta.url)), path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  await once(child.stdout, 'data');
  const tm = m.typed();
  let churnSeen = 0;
  for (let pass = 0; pass < 30; pass++) {
    const seen = new Set();
    for (const [k] of tm) {
      assert.equal(seen.has(k), false, `key ${k} yielded twice in pass ${pass}`);
      seen.add(k);
    }
    for (const k of stable) assert.ok(seen.has(k), `stable key ${k} missing in pass ${pass}`);
    churnSeen += [...seen].filter((k) => k >= 1000).length;
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(churnSeen > 0, 'the churn was visible to iteration');
  child.kill('SIGKILL');
});
