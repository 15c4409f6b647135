// Reader lifecycles (issue 13, item 12): several loops on one reader, readers closed or dropped while
// iterating, readers whose map was closed under them. Every wait must end, every fd must come back.
// The fd counts run in child processes (with --expose-gc) so that nothing else in the process skews them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfError, MapType, PerfEventReader, RingBufReader, possibleCpus } from 'bpfmap';
import { gcChild, tmpMap } from './helpers/kernel.mjs';

/** `p`, or a rejection naming `what` after `ms`: a regression fails instead of hanging the suite. */
function within(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const drain = async (reader) => {
  const got = [];
  for await (const r of reader) got.push(r);
  return got;
};

test('two for-await loops on one RingBufReader both end when it is closed', async (t) => {
  const rb = tmpMap(t, { type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
  const reader = new RingBufReader(rb);
  t.after(() => reader.close());
  const a = drain(reader);
  const b = drain(reader);
  await new Promise((r) => setTimeout(r, 300)); // both loops are waiting now
  reader.close();
  assert.deepEqual(await within(Promise.all([a, b]), 3000, 'the two loops after close()'), [[], []]);
});

test('two for-await loops on one PerfEventReader both end when it is closed', async (t) => {
  const pe = tmpMap(t, { type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: possibleCpus() });
  const reader = new PerfEventReader(pe, { pages: 1 });
  t.after(() => reader.close());
  const a = drain(reader);
  const b = drain(reader);
  await new Promise((r) => setTimeout(r, 300));
  reader.close();
  assert.deepEqual(await within(Promise.all([a, b]), 3000, 'the two loops after close()'), [[], []]);
});

test('a reader whose map was closed throws EBADF from read() and from a waiting or a new next()', async (t) => {
  const ebadf = (e) => BpfError.is(e, 'EBADF') && /closed/.test(e.message);
  const kinds = [
    [(m) => new RingBufReader(m), { type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 }],
    [
      (m) => new PerfEventReader(m, { pages: 1 }),
      { type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: possibleCpus() },
    ],
  ];
  for (const [make, opts] of kinds) {
    // Closed before anything was read.
    const m1 = tmpMap(t, opts);
    const r1 = make(m1);
    t.after(() => r1.close());
    m1.close();
    assert.throws(() => r1.read(), ebadf, 'read() on a reader of a closed map');
    await assert.rejects(within(r1[Symbol.asyncIterator]().next(), 3000, 'next() on a closed map'), ebadf);
    // Closed while a loop waits.
    const m2 = tmpMap(t, opts);
    const r2 = make(m2);
    t.after(() => r2.close());
    const loop = drain(r2);
    await new Promise((r) => setTimeout(r, 300));
    m2.close();
    await assert.rejects(within(loop, 3000, 'a loop whose map was closed'), ebadf);
  }
});

const PRELUDE = `
  import { BpfMap, MapType, PerfEventReader, RingBufReader, possibleCpus } from 'bpfmap';
  import { readdirSync, readlinkSync } from 'node:fs';
  const fdList = () => readdirSync('/proc/self/fd').map((n) => { try { return readlinkSync('/proc/self/fd/' + n); } catch { return '?'; } });
  const fds = () => fdList().length;
  const kinds = () => { const k = {}; for (const l of fdList()) k[l] = (k[l] ?? 0) + 1; return k; };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  /** Waits (collecting garbage) until the fd count is back to \`n\` or two seconds have passed. */
  async function settle(n, gc) {
    for (let i = 0; i < 100 && fds() > n; i++) { if (gc) globalThis.gc(); await sleep(20); }
    return fds();
  }
  const ring = () => BpfMap.create({ type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
  const perf = () => BpfMap.create({ type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: possibleCpus() });
  // Warm up: the first worker thread the process starts may keep process-wide fds.
  { const m = ring(); const r = new RingBufReader(m); r[Symbol.asyncIterator]().next(); await sleep(200); r.close(); m.close(); await sleep(300); }
  globalThis.gc();
`;

test('readers closed after their loops began give back every fd (the waiter thread and its epoll fd included)', () => {
  const f = gcChild(`${PRELUDE}
    const before = fds();
    const open = [];
    for (let i = 0; i < 10; i++) {
      const m = i % 2 ? ring() : perf();
      const r = i % 2 ? new RingBufReader(m) : new PerfEventReader(m, { pages: 1 });
      const loop = (async () => { for await (const _ of r); })();
      open.push({ m, r, loop });
    }
    await sleep(500);
    const during = fds() - before;
    for (const { r } of open) r.close();
    await Promise.all(open.map((o) => o.loop));
    for (const { m } of open) m.close();
    const after = await settle(before, false);
    console.log(JSON.stringify({ before, during, after, left: kinds() }));
  `);
  assert.ok(f.during >= 20, `ten iterating readers hold fds (${f.during})`);
  assert.equal(f.after, f.before, `close() gave back every fd; open now: ${JSON.stringify(f.left)}`);
});

test('readers dropped after their loops began are collected with their maps, waiter threads and perf fds', () => {
  const f = gcChild(`${PRELUDE}
    const before = fds();
    const weak = [];
    (() => {
      for (let i = 0; i < 20; i++) {
        const m = i % 2 ? ring() : perf();
        const r = i % 2 ? new RingBufReader(m) : new PerfEventReader(m, { pages: 1 });
        r[Symbol.asyncIterator]().next(); // a loop waiting, then dropped
        weak.push(new WeakRef(r));
      }
    })();
    // And readers never iterated, dropped at once.
    for (let i = 0; i < 10; i++) new PerfEventReader(perf(), { pages: 1 });
    await sleep(500);
    const during = fds() - before;
    const after = await settle(before, true);
    console.log(JSON.stringify({ before, during, after, alive: weak.filter((w) => w.deref()).length, left: kinds() }));
  `);
  assert.ok(f.during >= 60, `the readers held fds (${f.during})`);
  assert.equal(f.alive, 0, 'every dropped reader was collected');
  assert.equal(f.after, f.before, `every fd came back; open now: ${JSON.stringify(f.left)}`);
});
