// A worker thread doing element operations on a shared hash map (opened by id): each worker owns
// a key range, writes values tagged with its id, and reads each back at once. Posts what it saw.
import { parentPort, workerData } from 'node:worker_threads';
import { BpfMap } from 'bpfmap';

const { id, tag, base, keys, rounds } = workerData;
const m = BpfMap.fromId(id);
const key = new Uint8Array(4);
const kv = new DataView(key.buffer);
const value = new Uint8Array(8);
const vv = new DataView(value.buffer);
const out = new Uint8Array(8);
const ov = new DataView(out.buffer);
let mismatches = 0;
let ops = 0;
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < keys; i++) {
    kv.setUint32(0, base + i, true);
    vv.setUint32(0, tag, true);
    vv.setUint32(4, r * keys + i, true);
    m.update(key, value);
    const fresh = m.lookup(key);
    m.lookup(key, { out });
    if (
      fresh === undefined ||
      new DataView(fresh.buffer, fresh.byteOffset, 8).getUint32(0, true) !== tag ||
      ov.getUint32(0, true) !== tag ||
      ov.getUint32(4, true) !== r * keys + i
    )
      mismatches++;
    if (i % 2 === 1 && m.delete(key) !== true) mismatches++;
    ops += 4;
  }
}
m.close();
parentPort.postMessage({ tag, mismatches, ops });
