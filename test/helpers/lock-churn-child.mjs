// Run by 86.concurrency.test.mjs: churns a pinned hash map of spin-locked { a, b } values until
// killed: BPF_F_LOCK updates that keep a === b, deletes and re-inserts of keys 1..511. Key 0 is
// updated but never deleted: the test's BPF program holds a pointer to its element while it spins,
// and a deleted element of a preallocated hash map is reused at once for the next new key, so the
// program's increments would land in another key's value while the kernel initialises it without
// the lock (a torn value the kernel makes, seen as "a = i, b = i + 1" under key 478 = 0 + 2 × 239).
import { BPF_F_LOCK, BpfMap, bpfSpinLock, defineStruct } from 'bpfmap';

const pairLocked = defineStruct('pair_locked', { lock: bpfSpinLock, a: 'u64', b: 'u64' });
const map = BpfMap.openPinned(process.argv[2]);
let i = 0;
process.stdout.write('ready\n');
for (;;) {
  const k = (i * 7919) % 512;
  if (i % 5 === 4 && k !== 0) map.deleteInt(k);
  else map.updateStructInt(k, { a: BigInt(i), b: BigInt(i) }, pairLocked, { flags: BPF_F_LOCK });
  i++;
}
