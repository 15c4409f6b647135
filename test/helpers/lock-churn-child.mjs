// Run by 86.concurrency.test.mjs: churns a pinned hash map of spin-locked { a, b } values until
// killed: BPF_F_LOCK updates that keep a === b, deletes and re-inserts of keys 0..511.
import { BPF_F_LOCK, BpfMap, bpfSpinLock, defineStruct } from 'bpfmap';

const pairLocked = defineStruct('pair_locked', { lock: bpfSpinLock, a: 'u64', b: 'u64' });
const map = BpfMap.openPinned(process.argv[2]);
let i = 0;
process.stdout.write('ready\n');
for (;;) {
  const k = (i * 7919) % 512;
  if (i % 5 === 4) map.deleteInt(k);
  else map.updateStructInt(k, { a: BigInt(i), b: BigInt(i) }, pairLocked, { flags: BPF_F_LOCK });
  i++;
}
