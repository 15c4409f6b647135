// Leaks: fds and kernel maps after 100,000 create/close cycles and 10,000 dropped maps, and the heap
// after a million lookups. Run in child processes (with --expose-gc) so nothing else skews the counts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gcChild } from './helpers/kernel.mjs';

const PRELUDE = `
  import { BpfMap, MapType, listMaps } from 'bpfmap';
  import { readdirSync } from 'node:fs';
  const fds = () => readdirSync('/proc/self/fd').length;
  const NAME = 'leak_' + process.pid;
  /** Maps in the kernel with our name: the kernel frees closed maps asynchronously, so wait for it. */
  async function kernelCount(expect) {
    let n;
    for (let i = 0; i < 100; i++) {
      n = listMaps().filter((m) => m.name === NAME).length;
      if (n === expect) return n;
      await new Promise((r) => setTimeout(r, 50));
    }
    return n;
  }
`;

test('100,000 maps created and closed, 10,000 dropped for the garbage collector: fds and kernel maps return to where they started', () => {
  const f = gcChild(`${PRELUDE}
    const fdsBefore = fds();
    const kernelBefore = await kernelCount(0);
    for (let i = 0; i < 100000; i++) BpfMap.create({ type: MapType.Hash, name: NAME, keySize: 4, valueSize: 4, maxEntries: 1 }).close();
    const fdsAfterClose = fds();
    const kernelAfterClose = await kernelCount(0);
    for (let i = 0; i < 10000; i++) BpfMap.create({ type: MapType.Array, name: NAME, keySize: 4, valueSize: 4, maxEntries: 1 });
    const fdsDropped = fds() - fdsBefore;
    const kernelDropped = await kernelCount(10000);
    for (let i = 0; i < 20 && fds() > fdsBefore; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    console.log(JSON.stringify({ fdsBefore, fdsAfterClose, kernelBefore, kernelAfterClose, fdsDropped, kernelDropped,
      fdsAfterGc: fds(), kernelAfterGc: await kernelCount(0) }));
  `);
  assert.equal(f.fdsAfterClose, f.fdsBefore, 'close() released every fd');
  assert.equal(f.kernelBefore, 0);
  assert.equal(f.kernelAfterClose, 0, 'the kernel freed every closed map');
  assert.equal(f.fdsDropped, 10000, 'the dropped maps were open until collected');
  assert.equal(f.kernelDropped, 10000);
  assert.equal(f.fdsAfterGc, f.fdsBefore, 'the garbage collector closed every dropped map');
  assert.equal(f.kernelAfterGc, 0, 'and the kernel freed them');
});

test('a million lookups (bytes, ints, typed) keep the heap flat', () => {
  const f = gcChild(`${PRELUDE}
    import { u32, u64, defineStruct } from 'bpfmap';
    const s = defineStruct('s', { a: 'u32', b: 'u64' });
    const m = BpfMap.create({ type: MapType.Hash, key: u32, value: s, maxEntries: 1024 });
    const t = m.typed();
    const ints = BpfMap.create({ type: MapType.Hash, key: u32, value: u64, maxEntries: 1024 });
    for (let i = 0; i < 1024; i++) {
      t.set(i, { a: i, b: BigInt(i) });
      ints.updateInt(i, i);
    }
    const key = new Uint8Array(4);
    const round = (n) => {
      for (let i = 0; i < n; i++) {
        key[0] = i & 0xff; key[1] = (i >> 8) & 3;
        m.lookup(key);
        ints.lookupInt(i & 1023);
        t.get(i & 1023);
      }
    };
    round(50000); // warm up: JIT, scratch buffers
    globalThis.gc();
    const before = process.memoryUsage().heapUsed;
    round(1000000 / 3);
    globalThis.gc();
    const after = process.memoryUsage().heapUsed;
    console.log(JSON.stringify({ lookups: 1000000, heapBefore: before, heapAfter: after, growthKiB: Math.round((after - before) / 1024) }));
  `);
  assert.ok(f.growthKiB < 512, `heap grew ${f.growthKiB} KiB over a million lookups`);
});
