// Run by test/81.fake-unprivileged.test.mjs as uid 65534 with every capability dropped: uses every
// kind of FakeMap and the fake readers, then prints what it did and what it is allowed. With
// BPFMAP_FAKE_CHILD_REAL=1 it uses BpfMap instead, which must fail: the proof that a syscall
// made here would not go unnoticed.
import { readFileSync } from 'node:fs';
import { BPF_F_NO_PREALLOC, BpfError, BpfMap, MapType, defineStruct, lpmIPv4, u32, u64 } from 'bpfmap';
import { FakeMap, FakePerfEventReader, FakeRingBufReader } from 'bpfmap/testing';

const Map_ = process.env.BPFMAP_FAKE_CHILD_REAL === '1' ? BpfMap : FakeMap;
const status = readFileSync('/proc/self/status', 'utf8');
const field = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1];
const stats = defineStruct('stats', { packets: 'u64', drops: 'u32' });
const done = {};

const hash = Map_.create({ type: MapType.Hash, key: u32, value: stats, maxEntries: 2 });
hash.typed().set(1, { packets: 5n, drops: 1 });
hash.typed().set(2, { packets: 7n, drops: 0 });
let full;
try {
  hash.typed().set(3, { packets: 1n, drops: 0 });
} catch (e) {
  full = BpfError.is(e) ? e.code : String(e);
}
done.hash = { sum: String([...hash.typed().values()].reduce((s, v) => s + v.packets, 0n)), full };

const pc = Map_.create({ type: MapType.PercpuHash, keySize: 4, valueSize: 8, maxEntries: 4 });
pc.updateInt(1, 3);
done.percpu = pc.lookupInt(1).map(String);

const lru = Map_.create({ type: MapType.LruHash, keySize: 4, valueSize: 8, maxEntries: 2 });
for (let i = 0; i < 5; i++) lru.updateInt(i, i);
done.lru = [...lru.keys()].length;

const arr = Map_.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 3 });
arr.updateInt(2, 9);
done.array = [...arr.lookupBatch({ batchSize: 2 })].map((c) => c.count);

const q = Map_.create({ type: MapType.Queue, keySize: 0, valueSize: 8, maxEntries: 2 });
q.push(u64.encode(1n));
q.push(u64.encode(2n));
done.queue = String(u64.decode(q.pop()));

const bloom = Map_.create({ type: MapType.BloomFilter, keySize: 0, valueSize: 8, maxEntries: 8 });
bloom.push(u64.encode(4n));
done.bloom = bloom.peek(u64.encode(4n));

const lpm = Map_.create({ type: MapType.LpmTrie, key: lpmIPv4, value: u32, maxEntries: 8, flags: BPF_F_NO_PREALLOC });
lpm.typed().set('10.0.0.0/8', 8);
lpm.typed().set('10.1.0.0/16', 16);
done.lpm = lpm.typed().get('10.1.2.3/32');

const ring = new FakeRingBufReader();
ring.push(stats.encode({ packets: 1n, drops: 2 }));
done.ring = ring.read()?.length;
const perf = new FakePerfEventReader({ cpus: 2 });
perf.push(new Uint8Array(3), { cpu: 1 });
done.perf = perf.read();
done.perf = { cpu: done.perf.cpu, bytes: done.perf.data.length };

let real;
try {
  BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 }).close();
  real = 'created';
} catch (e) {
  real = BpfError.is(e) ? e.code : String(e);
}
console.log(JSON.stringify({ uid: process.getuid(), capEff: field('CapEff'), capBnd: field('CapBnd'), done, real }));
