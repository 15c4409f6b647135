// Concurrent writers: another process churns a map of spin-locked values (BPF_F_LOCK updates,
// deletes, re-inserts) while this one iterates, batch-reads and writes with BPF_F_LOCK. No pass may
// yield a key twice, no value may be torn, and nothing may throw except documented errors.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Asm, BPF_F_LOCK, MapType, ProgType, R0, R1, R2, R6, R10, bpfSpinLock, defineStruct, loadProgram, u32 } from 'bpfmap';
import { pinPath, tmpMap } from './helpers/kernel.mjs';

const pairLocked = defineStruct('pair_locked', { lock: bpfSpinLock, a: 'u64', b: 'u64' });

test('iteration, batch reads and BPF_F_LOCK writes while another process churns the map', async (t) => {
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: pairLocked, maxEntries: 1024 });
  const path = pinPath(t, 'lock_churn');
  m.pin(path);
  const child = spawn(process.execPath, [fileURLToPath(new URL('./helpers/lock-churn-child.mjs', import.meta.url)), path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  await once(child.stdout, 'data');
  // And a BPF program, run in a loop from a worker thread, increments a and b of key 0 under the lock:
  // its two stores are the window a reader without BPF_F_LOCK could fall into.
  m.updateStructInt(0, { a: 0n, b: 0n }, pairLocked);
  const a = new Asm().st('u32', R10, -4, 0).ldMapFd(R1, m).mov64(R2, R10).add64(R2, -4);
  a.call('map_lookup_elem').jeq(R0, 0, 'out').mov64(R6, R0).mov64(R1, R6).call('spin_lock');
  a.ldx('u64', R1, R6, 8).add64(R1, 1).st('u64', R6, 8, R1);
  a.mov64(R2, 0);
  for (let n = 0; n < 300; n++) a.add64(R2, 1); // widen the window between the two stores
  a.ldx('u64', R1, R6, 16).add64(R1, 1).st('u64', R6, 16, R1);
  a.mov64(R1, R6).call('spin_unlock').label('out').mov64(R0, 0).exit();
  const prog = loadProgram({ type: ProgType.SchedCls, instructions: a });
  t.after(() => prog.close());
  const worker = new Worker(new URL('./helpers/spin-worker.mjs', import.meta.url), {
    workerData: { id: prog.id, rounds: 1_000_000, repeat: 20_000 },
  });
  t.after(() => worker.terminate());
  const figures = { passes: 0, batchPasses: 0, valuesChecked: 0, writes: 0, keysSeen: 0 };
  const deadline = Date.now() + 3000;
  let i = 0;
  while (Date.now() < deadline) {
    // entries(): batches, no duplicates, values unread under the lock may not be used for the torn check.
    const seen = new Set();
    for (const [k] of m.entries()) {
      const key = u32.decode(k);
      assert.ok(!seen.has(key), `key ${key} yielded twice in one pass`);
      seen.add(key);
    }
    figures.passes++;
    figures.keysSeen += seen.size;
    // Batch reads with BPF_F_LOCK: every value copied under its lock.
    const batchSeen = new Set();
    for (const c of m.lookupBatch({ batchSize: 64, flags: BPF_F_LOCK })) {
      for (let j = 0; j < c.count; j++) {
        const key = u32.decode(c.keys, j * 4);
        assert.ok(!batchSeen.has(key), `key ${key} twice in one batch pass`);
        batchSeen.add(key);
        const v = pairLocked.decode(c.values, j * pairLocked.size);
        assert.equal(v.a, v.b, `torn value under key ${key}: ${v.a} / ${v.b}`);
        figures.valuesChecked++;
      }
    }
    figures.batchPasses++;
    // Element reads and writes with BPF_F_LOCK.
    for (let n = 0; n < 200; n++, i++) {
      const key = (i * 31) % 512;
      const v = m.lookupStructInt(key, pairLocked, { flags: BPF_F_LOCK });
      if (v !== undefined) {
        assert.equal(v.a, v.b, `torn value under key ${key}`);
        figures.valuesChecked++;
      }
      if (key !== 0) {
        m.updateStructInt(key, { a: BigInt(-i >>> 0), b: BigInt(-i >>> 0) }, pairLocked, { flags: BPF_F_LOCK });
        figures.writes++;
      }
      const hot = m.lookupStructInt(0, pairLocked, { flags: BPF_F_LOCK });
      if (hot !== undefined) {
        assert.equal(hot.a, hot.b, `torn value under key 0 (the program's): ${hot.a} / ${hot.b}`);
        figures.valuesChecked++;
      }
    }
    await new Promise(setImmediate);
  }
  console.log(`# concurrency: ${JSON.stringify(figures)}`);
  assert.ok(figures.passes > 10 && figures.valuesChecked > 1000, JSON.stringify(figures));
  assert.ok(figures.keysSeen / figures.passes > 100, 'the passes saw a populated map');
});

test('element operations from worker threads and the main thread at once: each thread has its own call block', async (t) => {
  // Every thread stages keys and values in its own call block (the addon finds it through a
  // thread-local). Were one block shared, the threads would send each other's keys and values.
  const KEYS = 256;
  const ROUNDS = 200;
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 * KEYS });
  const run = (tag) =>
    new Promise((resolve, reject) => {
      const w = new Worker(new URL('./helpers/elem-worker.mjs', import.meta.url), {
        workerData: { id: m.id, tag, base: tag * KEYS, keys: KEYS, rounds: ROUNDS },
      });
      w.once('message', resolve);
      w.once('error', reject);
    });
  const workers = [run(1), run(2), run(3)];
  // Meanwhile the main thread does the same on its own range (tag 0).
  const key = new Uint8Array(4);
  const value = new Uint8Array(8);
  let mainMismatches = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < KEYS; i++) {
      new DataView(key.buffer).setUint32(0, i, true);
      new DataView(value.buffer).setUint32(4, r * KEYS + i, true);
      m.update(key, value);
      const v = m.lookup(key);
      if (v === undefined || v[0] !== 0 || new DataView(v.buffer, v.byteOffset, 8).getUint32(4, true) !== r * KEYS + i)
        mainMismatches++;
    }
    await new Promise((resolve) => setImmediate(resolve)); // let the workers' messages through
  }
  const results = await Promise.all(workers);
  console.log(`# ${JSON.stringify({ main: { mismatches: mainMismatches }, workers: results })}`);
  assert.equal(mainMismatches, 0);
  for (const r of results) {
    assert.equal(r.mismatches, 0, `worker ${r.tag}`);
    assert.equal(r.ops, ROUNDS * KEYS * 4);
  }
  // What the map holds afterwards, read back in one pass: each worker's odd keys were deleted,
  // its even keys hold its tag and the last round's value; the main thread's keys all hold tag 0.
  const seen = new Map();
  for (const [k, v] of m.entries()) {
    const dv = new DataView(v.buffer, v.byteOffset, 8);
    seen.set(new DataView(k.buffer, k.byteOffset, 4).getUint32(0, true), [dv.getUint32(0, true), dv.getUint32(4, true)]);
  }
  assert.equal(seen.size, KEYS + 3 * (KEYS / 2));
  for (let i = 0; i < KEYS; i++) assert.deepEqual(seen.get(i), [0, (ROUNDS - 1) * KEYS + i]);
  for (const tag of [1, 2, 3])
    for (let i = 0; i < KEYS; i += 2) assert.deepEqual(seen.get(tag * KEYS + i), [tag, (ROUNDS - 1) * KEYS + i]);
  // A worker's teardown clears only its own thread's block: the main thread goes on working.
  m.update(key, value);
  assert.deepEqual(m.lookup(key), value);
});
