// Run by 37.typed-iterate.test.mjs: churns a pinned u32→u32 hash map (inserts and deletes keys 1000..1999) until killed.
import { BpfMap } from 'bpfmap';

const map = BpfMap.openPinned(process.argv[2]);
let i = 0;
process.stdout.write('ready\n');
for (;;) {
  const k = 1000 + (i % 1000);
  if ((i >> 10) % 2 === 0) map.updateInt(k, i & 0xffff);
  else map.deleteInt(k);
  i++;
}
