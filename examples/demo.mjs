// A short tour: a hash map and a per-CPU array, written, read back, iterated and deleted.
// Run with `npm start` (as root, or with CAP_BPF).
import { BPF_NOEXIST, BpfError, BpfMap, MapType, possibleCpus } from 'bpfmap';

const u32 = (n) => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n) => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
const num = (b) => new DataView(b.buffer, b.byteOffset, b.byteLength)[b.length === 8 ? 'getBigUint64' : 'getUint32'](0, true);

const hash = BpfMap.create({ type: MapType.Hash, name: 'demo_hash', keySize: 4, valueSize: 8, maxEntries: 16 });
console.log(
  `created ${MapType[hash.type]} map "${hash.name}" id=${hash.id} fd=${hash.fd} key=${hash.keySize}B value=${hash.valueSize}B`,
);

for (const [port, packets] of [
  [22, 1500],
  [80, 93000],
  [443, 250000],
])
  hash.update(u32(port), u64(packets));
console.log('wrote ports 22, 80, 443');
console.log(`lookup(80) -> ${num(hash.lookup(u32(80)))} packets`);
console.log(`lookup(8080) -> ${hash.lookup(u32(8080))} (absent)`);

try {
  hash.update(u32(22), u64(0), { flags: BPF_NOEXIST });
} catch (err) {
  if (!BpfError.is(err, 'EEXIST')) throw err;
  console.log(`update(22, NOEXIST) refused: ${err.message}`);
}

console.log('iterating:');
for (const [key, value] of hash) console.log(`  port ${num(key)}: ${num(value)} packets`);

console.log(`delete(22) -> ${hash.delete(u32(22))}, again -> ${hash.delete(u32(22))}`);
console.log(
  `keys now: ${[...hash.keys()]
    .map(num)
    .sort((a, b) => a - b)
    .join(', ')}`,
);
hash.close();

const cpus = possibleCpus();
const percpu = BpfMap.create({ type: MapType.PercpuArray, name: 'demo_percpu', keySize: 4, valueSize: 8, maxEntries: 4 });
console.log(`\ncreated ${MapType[percpu.type]} map "${percpu.name}" id=${percpu.id}: ${cpus} possible CPUs, one value each`);
percpu.update(
  u32(0),
  Array.from({ length: cpus }, (_, cpu) => u64((cpu + 1) * 100)),
);
const perCpu = percpu.lookup(u32(0));
for (const [cpu, v] of perCpu.entries()) console.log(`  index 0, CPU ${cpu}: ${num(v)}`);
console.log(`  sum over CPUs: ${perCpu.reduce((s, v) => s + num(v), 0n)}`);
percpu.update(u32(1), u64(7));
console.log(`  index 1 after writing 7 to every CPU: [${percpu.lookup(u32(1)).map(num).join(', ')}]`);
percpu.close();
console.log('\nclosed both maps; the kernel frees them with their last fd.');
