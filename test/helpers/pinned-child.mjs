// Run by 40.pin.test.mjs in a second Node process: opens a pinned map, prints its contents as JSON, then writes a key.
import { BpfMap } from 'bpfmap';

const [path, writeKey] = process.argv.slice(2);
const map = BpfMap.openPinned(path);
const entries = [...map.entries()].map(([k, v]) => [Buffer.from(k).toString('hex'), Buffer.from(v).toString('hex')]);
if (writeKey) map.update(Buffer.from(writeKey, 'hex'), Buffer.alloc(map.valueSize, 0xab));
map.close();
process.stdout.write(JSON.stringify({ id: map.id, entries: entries.sort() }));
