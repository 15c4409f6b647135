// The libbpf-shaped element functions' fast paths (issue #21 item 5): a BpfMap gives the same results
// as its fd number and as its own methods, and a plain fd number whose owner changes between the
// library's size check and the element syscall never makes the kernel write past the caller's buffer.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  BPF_NOEXIST,
  BpfError,
  MapType,
  bpfMapDeleteElem,
  bpfMapGetNextKey,
  bpfMapLookupAndDeleteElem,
  bpfMapLookupElem,
  bpfMapUpdateElem,
  possibleCpus,
} from 'bpfmap';
import { tmpMap, u32 } from './helpers/kernel.mjs';

/** What a call did: its result, or the error's class, code, command and message. */
function outcome(f) {
  try {
    return { ok: f() };
  } catch (e) {
    return { error: e.constructor.name, code: e.code, command: e.command, message: e.message };
  }
}

test('a BpfMap and its fd number give the same results, errors and bytes', (t) => {
  const cpus = possibleCpus();
  const cases = [
    { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 2 },
    { type: MapType.Array, keySize: 4, valueSize: 12, maxEntries: 2 },
    { type: MapType.PercpuHash, keySize: 4, valueSize: 4, maxEntries: 2 },
    { type: MapType.Hash, keySize: 600, valueSize: 8, maxEntries: 2 }, // key larger than the call block's key area
    { type: MapType.Hash, keySize: 4, valueSize: 70_000, maxEntries: 2 }, // value larger than the call block
  ];
  for (const opts of cases) {
    const results = [];
    for (const how of ['map', 'fd']) {
      const m = tmpMap(t, opts);
      const ref = how === 'map' ? m : m.fd;
      const n = m.valueBufferSize;
      const key = (k) => {
        const b = new Uint8Array(opts.keySize);
        b[0] = k;
        return b;
      };
      const val = (byte, len = n) => new Uint8Array(len).fill(byte);
      const r = [];
      r.push(outcome(() => bpfMapUpdateElem(ref, key(1), val(1))));
      r.push(outcome(() => bpfMapUpdateElem(ref, key(1), val(2), BPF_NOEXIST)));
      r.push(outcome(() => bpfMapUpdateElem(ref, key(5), val(3)))); // full (hash) or out of range (array)
      r.push(outcome(() => bpfMapUpdateElem(ref, key(0), val(4, n + 3)))); // a larger buffer: first n bytes
      for (const len of [n, n + 5, n - 1]) {
        const out = new Uint8Array(len).fill(0xee);
        r.push(
          outcome(() => bpfMapLookupElem(ref, key(1), out)),
          [...out.subarray(0, Math.min(len, 16)), ...out.subarray(n)],
        );
      }
      r.push(outcome(() => bpfMapLookupElem(ref, key(9), new Uint8Array(n))));
      r.push(outcome(() => bpfMapLookupElem(ref, key(1), new Uint8Array(n), -1)));
      const next = new Uint8Array(opts.keySize);
      r.push(
        outcome(() => bpfMapGetNextKey(ref, null, next)),
        [0, 1, 5].includes(next[0]),
      ); // hash order differs per map
      r.push(outcome(() => bpfMapDeleteElem(ref, key(1))));
      r.push(outcome(() => bpfMapDeleteElem(ref, key(1))));
      r.push(outcome(() => bpfMapDeleteElem(ref, new Uint8Array(opts.keySize - 1))));
      m.close();
      const closed = outcome(() => bpfMapLookupElem(ref, key(1), new Uint8Array(n)));
      r.push(closed.error, closed.code);
      results.push(r);
    }
    assert.deepEqual(results[0], results[1], `${JSON.stringify(opts)}: BpfMap and fd agree`);
    if (opts.type === MapType.PercpuHash) assert.match(JSON.stringify(results[0]), new RegExp(`at least ${8 * cpus} bytes`));
  }
});

test('a BpfMap through the libbpf functions and through its methods agree', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
  bpfMapUpdateElem(m, u32(1), new Uint8Array(8).fill(7));
  assert.deepEqual(m.lookup(u32(1)), new Uint8Array(8).fill(7));
  m.update(u32(2), new Uint8Array(8).fill(9));
  const out = new Uint8Array(8);
  assert.equal(bpfMapLookupElem(m, u32(2), out), true);
  assert.deepEqual(out, new Uint8Array(8).fill(9));
  assert.equal(bpfMapLookupAndDeleteElem(m, u32(2), out), true);
  assert.equal(m.lookup(u32(2)), undefined);
  const viaFn = outcome(() => bpfMapUpdateElem(m, u32(1), new Uint8Array(8), BPF_NOEXIST));
  const viaMethod = outcome(() => m.update(u32(1), new Uint8Array(8), { flags: BPF_NOEXIST }));
  assert.deepEqual(viaFn, viaMethod, 'the same BpfError');
  const q = tmpMap(t, { type: MapType.Queue, keySize: 0, valueSize: 4, maxEntries: 4 });
  bpfMapUpdateElem(q, null, u32(5));
  bpfMapUpdateElem(q.fd, null, u32(6));
  const v = new Uint8Array(4);
  assert.equal(bpfMapLookupAndDeleteElem(q, null, v), true);
  assert.deepEqual(v, u32(5));
  assert.equal(bpfMapLookupAndDeleteElem(q.fd, null, v), true);
  assert.deepEqual(v, u32(6));
  assert.equal(bpfMapLookupAndDeleteElem(q, null, v), false);
  const bloom = tmpMap(t, { type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 16 });
  bpfMapUpdateElem(bloom, null, u32(42));
  for (const ref of [bloom, bloom.fd]) {
    assert.equal(bpfMapLookupElem(ref, null, u32(42)), true, 'a bloom lookup reads the value it tests');
    assert.equal(bpfMapLookupElem(ref, null, u32(43)), false);
  }
});

/**
 * A worker moves one fd number back and forth between a map with 8-byte values and one with
 * 4096-byte values (close, then dup into the lowest free number) while this thread looks it up
 * with 8-byte (call block) and 16-byte (staged copy) buffers that sit in front of canaries.
 */
test('an fd number reused by a map with larger values between the check and the syscall never overruns the buffer', async (t) => {
  const small = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1 });
  const big = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4096, maxEntries: 1 });
  small.update(u32(0), new Uint8Array(8).fill(0xaa));
  big.update(u32(0), new Uint8Array(4096).fill(0xbb));
  const shared = new Int32Array(new SharedArrayBuffer(16)); // [fd number, stop, flips, lost]
  const worker = new Worker(
    `
    const { workerData } = require('node:worker_threads');
    import(workerData.bpf).then(({ closeFd, dupFd }) => {
      const s = workerData.shared;
      const fds = [workerData.small, workerData.big];
      let n = dupFd(fds[0]);
      Atomics.store(s, 0, n);
      Atomics.notify(s, 0);
      for (let i = 1; Atomics.load(s, 1) === 0; i++) {
        closeFd(n);
        const d = dupFd(fds[i & 1]);
        // Another thread took the number meanwhile (this process opens files too): flip on the new one.
        if (d !== n) { n = d; Atomics.store(s, 0, n); Atomics.add(s, 3, 1); }
        Atomics.add(s, 2, 1);
      }
      closeFd(n);
    });
    `,
    {
      eval: true,
      workerData: { bpf: new URL('../dist/sys/bpf.js', import.meta.url).href, small: small.fd, big: big.fd, shared },
    },
  );
  const exited = new Promise((resolve) => worker.on('exit', resolve));
  Atomics.wait(shared, 0, 0, 10_000);
  assert.ok(Atomics.load(shared, 0) > 0, 'the worker started');
  const backing = new Uint8Array(64);
  const tally = { block: 0, staged: 0, ok: 0, errors: {} };
  const key = u32(0);
  const deadline = Date.now() + 8000;
  for (let i = 0; (i < 100_000 || tally.block + tally.staged < 2) && Date.now() < deadline; i++) {
    const n = Atomics.load(shared, 0);
    const len = i & 1 ? 16 : 8;
    backing.fill(0xcc);
    const value = backing.subarray(0, len);
    try {
      if (bpfMapLookupElem(n, key, value)) {
        tally.ok++;
        if (value[0] === 0xbb) tally.block++; // the kernel copied the big map's value: into the call block
      }
    } catch (e) {
      const why = e instanceof BpfError ? `${e.code} ${e.command}` : e.name;
      tally.errors[why] = (tally.errors[why] ?? 0) + 1;
      if (e.code === 'EFAULT') tally.staged++; // the big value hit the staged copy's guard page
    }
    for (let j = len; j < backing.length; j++)
      if (backing[j] !== 0xcc) assert.fail(`byte ${j} past a ${len}-byte buffer was written (${JSON.stringify(tally)})`);
  }
  Atomics.store(shared, 1, 1);
  await exited;
  console.log(`# flips ${Atomics.load(shared, 2)}, number moved ${Atomics.load(shared, 3)} times, ${JSON.stringify(tally)}`);
  // With one CPU the worker rarely runs between this thread's two syscalls; with two it does within the budget.
  if (availableParallelism() >= 2)
    assert.ok(tally.block + tally.staged > 0, `the race was hit at least once (${JSON.stringify(tally)})`);
});
