// bpfmap/testing's FakeMap against the kernel: the same random command sequences run on a real
// BpfMap and a FakeMap of each supported type, and every result, every error (class, code, errno,
// command, batch count) and the final contents must agree. Where the kernel leaves a choice (hash
// order, batch chunk sizes, LRU eviction, bloom false positives) each map is checked against what
// the kernel guarantees instead. fast-check prints the seed and the shrunk sequence of a failure;
// BPFMAP_PROP_SEED=… replays it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_NO_COMMON_LRU,
  BPF_F_NO_PREALLOC,
  BPF_NOEXIST,
  BpfError,
  BpfMap,
  MapType,
  bpfSpinLock,
  defineStruct,
  possibleCpus,
  u32,
  u64,
} from 'bpfmap';
import { FakeMap } from 'bpfmap/testing';

const RUNS = Number(process.env.BPFMAP_PROP_RUNS ?? 60);
const STEPS = 120;
const SEED = process.env.BPFMAP_PROP_SEED === undefined ? undefined : Number(process.env.BPFMAP_PROP_SEED);
const NCPU = possibleCpus();
const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** A result in a comparable form: bytes as hex, bigints as strings, per-CPU arrays element-wise. */
function norm(v) {
  if (v instanceof Uint8Array) return hex(v);
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === 'bigint') return `${v}n`;
  return v;
}

/** Runs `fn`: its normalised result, or the error it threw with everything users can test on it. */
function outcome(fn) {
  try {
    return { ok: norm(fn()) };
  } catch (e) {
    if (e instanceof BpfError) return { err: e.code, errno: e.errno, command: e.command, count: e.count, cls: e.name };
    if (e instanceof TypeError || e instanceof RangeError) return { err: e.constructor.name };
    throw e;
  }
}

/** Runs `fn` on both maps and requires the same outcome; returns it. */
function same(label, real, fake, fn) {
  const r = outcome(() => fn(real));
  const f = outcome(() => fn(fake));
  assert.deepEqual(f, r, `${label}: the fake gave ${JSON.stringify(f)}, the kernel ${JSON.stringify(r)}`);
  return r;
}

/** Every [key, value] of a map (hex), sorted by key; or the error a walk gives. */
function contents(m) {
  return outcome(() =>
    [...m.entries()].map(([k, v]) => [hex(k), norm(v)]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
  );
}

/** The pairs a batch walk yields (sorted unless `ordered`), and its error if it throws part way. */
function batchPairs(m, del, batchSize, ordered) {
  const pairs = [];
  const got = outcome(() => {
    for (const c of del ? m.lookupAndDeleteBatch({ batchSize }) : m.lookupBatch({ batchSize })) {
      for (let i = 0; i < c.count; i++)
        pairs.push([
          hex(c.keys.subarray(i * m.keySize, (i + 1) * m.keySize)),
          hex(c.values.subarray(i * m.valueBufferSize, (i + 1) * m.valueBufferSize)),
        ]);
    }
  });
  if (!ordered) pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { got, pairs };
}

const stats = { sequences: 0, steps: 0 };

const command = (label, step) => ({
  check: () => true,
  run(_model, maps) {
    stats.steps++;
    step(maps.real, maps.fake);
  },
  toString: () => label,
});

/**
 * The property: for each generated sequence, a fresh real map and a fresh fake from the same
 * options, every command on both, then the final contents (`final`, default: equal), then the
 * same calls on both once closed (EBADF, or the argument errors that come first).
 */
function property(
  name,
  opts,
  commands,
  final = (real, fake) => assert.deepEqual(contents(fake), contents(real), 'final contents'),
) {
  test(`${name}: ${RUNS} random sequences agree with the kernel`, () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: STEPS, size: 'max' }), (cmds) => {
        const real = BpfMap.create(opts);
        const fake = FakeMap.create(opts);
        try {
          stats.sequences++;
          fc.modelRun(() => ({ model: {}, real: { real, fake } }), cmds);
          final(real, fake);
        } finally {
          real.close();
          fake.close();
        }
        const k = new Uint8Array(real.keySize);
        for (const [label, fn] of closedCalls(k, new Uint8Array(real.valueSize))) same(`closed: ${label}`, real, fake, fn);
      }),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
  });
}

function closedCalls(k, v) {
  const key = k.length === 0 ? null : k;
  return [
    ['lookup', (m) => m.lookup(key)],
    ['update', (m) => m.update(key, v)],
    ['update (wrong size)', (m) => m.update(key, new Uint8Array(v.length + 1))],
    ['delete', (m) => m.delete(key)],
    ['getNextKey', (m) => m.getNextKey()],
    ['keys', (m) => m.keys()],
    ['lookupBatch', (m) => [...m.lookupBatch()]],
    ['freeze', (m) => m.freeze()],
    ['lookupInt', (m) => m.lookupInt(0)],
  ];
}

// ---- value and flag domains ----

const v8 = (n) => u64.encode(BigInt(n));
const VAL = fc.integer({ min: 0, max: 2 ** 40 });
/** Element flags, including ones the kernel refuses. */
const FLAG = fc.constantFrom(BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_NOEXIST, BPF_EXIST, BPF_EXIST, BPF_F_LOCK, 3, 8);
const LOOKUP_FLAG = fc.constantFrom(undefined, undefined, undefined, BPF_F_LOCK, 1);
const BATCH = fc.integer({ min: 1, max: 4 });

/** Values as update takes them: one buffer, or (per-CPU) one for every CPU or an array. */
function valueArb(perCpu, size) {
  // 16-byte values: a struct { bpf_spin_lock; u64 }, lock bytes random (the kernel never stores them).
  const one =
    size === 8
      ? VAL.map(v8)
      : fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), VAL).map(([l, n]) => {
          const b = new Uint8Array(16);
          new DataView(b.buffer).setUint32(0, l, true);
          b.set(v8(n), 8);
          return b;
        });
  return perCpu ? fc.oneof(one, fc.array(one, { minLength: NCPU, maxLength: NCPU })) : one;
}
const showValue = (v) => (Array.isArray(v) ? `[${v.map(hex).join(',')}]` : hex(v));

/** Element and batch commands over keys from `KEY` (bytes), shared by every keyed type. */
function keyedCommands(KEY, showKey, { perCpu, ordered, lru = false, valueSize = 8 }) {
  const VALUE = valueArb(perCpu, valueSize);
  const cmds = [
    fc.tuple(KEY, VALUE, FLAG).map(([k, v, flags]) =>
      command(`update(${showKey(k)}, ${showValue(v)}, ${flags})`, (real, fake) => {
        if (lru) return lruUpdate(real, fake, k, v, flags);
        same('update', real, fake, (m) => m.update(k, v, { flags }));
      }),
    ),
    fc.tuple(KEY, LOOKUP_FLAG).map(([k, flags]) =>
      command(`lookup(${showKey(k)}, ${flags})`, (real, fake) => {
        if (lru) return;
        same('lookup', real, fake, (m) => m.lookup(k, flags === undefined ? undefined : { flags }));
      }),
    ),
    KEY.map((k) =>
      command(`delete(${showKey(k)})`, (real, fake) => {
        if (lru) return lruDelete(real, fake, k);
        same('delete', real, fake, (m) => m.delete(k));
      }),
    ),
    KEY.map((k) =>
      command(`lookupAndDelete(${showKey(k)})`, (real, fake) => {
        if (lru) return lruLookupAndDelete(real, fake, k);
        same('lookupAndDelete', real, fake, (m) => m.lookupAndDelete(k));
      }),
    ),
    fc.option(KEY, { nil: null }).map((k) =>
      command(`getNextKey(${k === null ? 'null' : showKey(k)})`, (real, fake) => {
        if (ordered) return same('getNextKey', real, fake, (m) => m.getNextKey(k));
        for (const m of [real, fake]) checkNextKey(m, k);
      }),
    ),
    BATCH.map((n) =>
      command(`walk(${n})`, (real, fake) => {
        if (lru) return;
        if (ordered) same('keys()', real, fake, (m) => [...m.keys()]);
        assert.deepEqual(contents(fake), contents(real), 'entries()');
        assert.deepEqual(batchPairs(fake, false, n, ordered), batchPairs(real, false, n, ordered), 'lookupBatch');
      }),
    ),
    fc
      .tuple(
        fc.array(fc.tuple(KEY, VALUE), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST),
      )
      .map(([entries, flags]) =>
        command(`updateBatch(${entries.map(([k, v]) => `${showKey(k)}=${showValue(v)}`).join(' ')}, ${flags})`, (real, fake) => {
          if (lru) return;
          const args = (m) =>
            m.updateBatch(
              entries.map(([k]) => k),
              entries.map(([, v]) => v),
              { flags },
            );
          same('updateBatch', real, fake, args);
        }),
      ),
    fc.uniqueArray(KEY, { minLength: 1, maxLength: 4, selector: hex }).map((keys) =>
      command(`deleteBatch(${keys.map(showKey).join(' ')})`, (real, fake) => {
        if (lru) return;
        same('deleteBatch', real, fake, (m) => m.deleteBatch(keys));
      }),
    ),
    BATCH.map((n) =>
      command(`lookupAndDeleteBatch(${n})`, (real, fake) => {
        if (lru) return;
        assert.deepEqual(batchPairs(fake, true, n, ordered), batchPairs(real, true, n, ordered), 'lookupAndDeleteBatch');
      }),
    ),
    fc.integer({ min: 0, max: 24 }).map((i) =>
      i === 0
        ? command('freeze()', (real, fake) => {
            same('freeze', real, fake, (m) => m.freeze());
            frozen.add(real).add(fake);
          })
        : command('wrong sizes', (real, fake) => {
            same('lookup(short key)', real, fake, (m) => m.lookup(new Uint8Array(m.keySize - 1)));
            same('update(long value)', real, fake, (m) => m.update(new Uint8Array(m.keySize), new Uint8Array(m.valueSize + 1)));
            same('lookupInt (out of range)', real, fake, (m) => m.lookupInt(2 ** 40));
          }),
    ),
  ];
  // Inserts weigh more than removals, so maps often fill up (E2BIG, LRU eviction, full batches).
  return [cmds[0], cmds[0], cmds[0], cmds[6], ...cmds];
}

/** get-next-key where the order is the map's own: a key of the map, and a restart from a key that is not in it. */
function checkNextKey(m, k) {
  const keys = new Set([...m.keys()].map(hex));
  const next = m.getNextKey(k);
  if (keys.size === 0) return assert.equal(next, undefined, 'empty map: no next key');
  if (k === null || !keys.has(hex(k))) return assert.ok(next && keys.has(hex(next)), 'restart at a key of the map');
  if (next !== undefined) assert.ok(keys.has(hex(next)) && hex(next) !== hex(k), 'another key of the map');
}

// ---- LRU: what the kernel guarantees, checked on each map ----

/** Maps frozen by a command (their updates fail with EPERM). */
const frozen = new WeakSet();

/** Last value written per key, per map (what a present key must hold). */
const written = new WeakMap();
function lastWritten(m) {
  if (!written.has(m)) written.set(m, new Map());
  return written.get(m);
}

function lruCheck(m) {
  const c = contents(m).ok;
  assert.ok(c.length <= m.maxEntries, `${c.length} elements in an LRU map of ${m.maxEntries}`);
  const w = lastWritten(m);
  for (const [k, v] of c) assert.deepEqual(v, w.get(k), `key ${k} holds the last value written to it`);
}

/**
 * An update on an LRU map, checked on each map against what the kernel guarantees: never E2BIG,
 * NOEXIST on an absent key and EXIST on a present one work unless the update's own allocation
 * evicted that very key first (the kernel takes a free node, evicting if it must, before it looks
 * the key up: NOEXIST then succeeds, EXIST fails with ENOENT); a key written is present with its value.
 */
function lruUpdate(real, fake, k, v, flags) {
  for (const m of [real, fake]) {
    const present = m.lookup(k) !== undefined;
    const got = outcome(() => m.update(k, v, { flags }));
    const allowed = frozen.has(m)
      ? ['EPERM']
      : flags === BPF_F_LOCK || flags > BPF_EXIST
        ? ['EINVAL']
        : flags === BPF_NOEXIST && present
          ? ['EEXIST', undefined]
          : flags === BPF_EXIST && !present
            ? ['ENOENT']
            : flags === BPF_EXIST
              ? [undefined, 'ENOENT']
              : [undefined];
    const who = m instanceof FakeMap ? 'the fake' : 'the kernel';
    assert.ok(allowed.includes(got.err), `update on ${who}: ${JSON.stringify(got)}, expected one of ${allowed}`);
    if (got.err === undefined) {
      const stored = norm(m.lookup(k));
      lastWritten(m).set(hex(k), stored);
      assert.deepEqual(stored, norm(perCpuOf(m, v)), `${who}: the key just written is present, with its value`);
    }
    if (m instanceof FakeMap && got.err !== undefined)
      assert.equal(got.err, allowed[0], 'the fake never evicts the key being updated');
    lruCheck(m);
  }
}

function perCpuOf(m, v) {
  if (!m.isPerCpu) return v;
  return Array.isArray(v) ? v : Array(NCPU).fill(v);
}

function lruDelete(real, fake, k) {
  if (frozen.has(real)) return same('delete (frozen)', real, fake, (m) => m.delete(k));
  for (const m of [real, fake]) {
    const present = m.lookup(k) !== undefined;
    assert.equal(m.delete(k), present);
    assert.equal(m.lookup(k), undefined);
    lruCheck(m);
  }
}

function lruLookupAndDelete(real, fake, k) {
  if (frozen.has(real)) return same('lookupAndDelete (frozen)', real, fake, (m) => m.lookupAndDelete(k));
  for (const m of [real, fake]) {
    const before = norm(m.lookup(k));
    assert.deepEqual(norm(m.lookupAndDelete(k)), before);
    assert.equal(m.lookup(k), undefined);
    lruCheck(m);
  }
}

// ---- hash maps ----

const u32Key = fc.integer({ min: 0, max: 9 }).map((n) => u32.encode(n));
const showU32 = (k) => String(u32.decode(k));
const HMAX = 6;

for (const [name, type, flags, perCpu] of [
  ['hash', MapType.Hash, 0, false],
  ['hash (BPF_F_NO_PREALLOC)', MapType.Hash, BPF_F_NO_PREALLOC, false],
  ['percpu_hash', MapType.PercpuHash, 0, true],
]) {
  property(
    name,
    { type, keySize: 4, valueSize: 8, maxEntries: HMAX, flags },
    keyedCommands(u32Key, showU32, { perCpu, ordered: false }),
  );
}

for (const [name, type, flags, perCpu] of [
  ['lru_hash', MapType.LruHash, 0, false],
  ['lru_hash (BPF_F_NO_COMMON_LRU)', MapType.LruHash, BPF_F_NO_COMMON_LRU, false],
  ['lru_percpu_hash', MapType.LruPercpuHash, 0, true],
]) {
  property(
    name,
    { type, keySize: 4, valueSize: 8, maxEntries: HMAX, flags },
    keyedCommands(u32Key, showU32, { perCpu, ordered: false, lru: true }),
    (real, fake) => {
      lruCheck(real);
      lruCheck(fake);
    },
  );
}

// ---- arrays: everything in index order, compared exactly ----

const AMAX = 5;
const arrayKey = fc.integer({ min: 0, max: AMAX + 2 }).map((n) => u32.encode(n));
for (const [name, type, perCpu] of [
  ['array', MapType.Array, false],
  ['percpu_array', MapType.PercpuArray, true],
]) {
  property(
    name,
    { type, keySize: 4, valueSize: 8, maxEntries: AMAX },
    keyedCommands(arrayKey, showU32, { perCpu, ordered: true }),
  );
}

// ---- LPM trie: u32 prefix length + 2 bytes; lengths up to 17 (one past the maximum) ----

const BYTE = fc.constantFrom(0x00, 0x01, 0x0a, 0x80, 0xc0, 0xff);
const lpmKeyArb = fc.tuple(fc.integer({ min: 0, max: 17 }), BYTE, BYTE).map(([plen, a, b]) => {
  const k = new Uint8Array(6);
  new DataView(k.buffer).setUint32(0, plen, true);
  k[4] = a;
  k[5] = b;
  return k;
});
const showLpm = (k) => `${k[4]}.${k[5]}/${new DataView(k.buffer, k.byteOffset).getUint32(0, true)}`;
property(
  'lpm_trie',
  { type: MapType.LpmTrie, keySize: 6, valueSize: 8, maxEntries: 5, flags: BPF_F_NO_PREALLOC },
  keyedCommands(lpmKeyArb, showLpm, { perCpu: false, ordered: true }),
);

// ---- queue and stack ----

function queueCommands() {
  return [
    fc
      .tuple(VAL, fc.constantFrom(BPF_ANY, BPF_ANY, BPF_EXIST, BPF_EXIST, BPF_NOEXIST, BPF_F_LOCK, 3))
      .map(([v, flags]) =>
        command(`push(${v}, ${flags})`, (real, fake) => same('push', real, fake, (m) => m.push(v8(v), { flags }))),
      ),
    fc.constant(command('pop()', (real, fake) => same('pop', real, fake, (m) => m.pop()))),
    fc.constant(command('peek()', (real, fake) => same('peek', real, fake, (m) => m.peek()))),
    LOOKUP_FLAG.map((flags) =>
      command(`lookup(null, ${flags})`, (real, fake) => same('lookup', real, fake, (m) => m.lookup(null, { flags }))),
    ),
    fc.constant(
      command('refused', (real, fake) => {
        same('delete', real, fake, (m) => m.delete(null));
        same('getNextKey', real, fake, (m) => m.getNextKey());
        same('keys', real, fake, (m) => [...m.keys()]);
        same('lookupBatch', real, fake, (m) => [...m.lookupBatch()]);
        same('lookupAndDeleteBatch', real, fake, (m) => [...m.lookupAndDeleteBatch()]);
        same('update(key)', real, fake, (m) => m.update(new Uint8Array(4), v8(1)));
        same('lookupAndDelete(flags)', real, fake, (m) => m.lookupAndDelete(null, { flags: BPF_EXIST }));
      }),
    ),
    fc
      .integer({ min: 0, max: 19 })
      .map((i) =>
        i === 0
          ? command('freeze()', (real, fake) => same('freeze', real, fake, (m) => m.freeze()))
          : command('peek()', (real, fake) => same('peek', real, fake, (m) => m.peek())),
      ),
  ];
}

/** Drains both and compares what comes out, in order. */
function drained(real, fake) {
  const out = (m) => {
    const got = [];
    for (let v = m.pop(); v !== undefined; v = m.pop()) got.push(hex(v));
    return got;
  };
  const r = outcome(() => out(real));
  const f = outcome(() => out(fake));
  assert.deepEqual(f, r, 'final contents (drained)');
}

for (const [name, type] of [
  ['queue', MapType.Queue],
  ['stack', MapType.Stack],
]) {
  property(name, { type, keySize: 0, valueSize: 8, maxEntries: 4 }, queueCommands(), drained);
}

// ---- bloom filter: no false negatives on either; the fake is exact ----

const pushedTo = new WeakMap();
function bloomCommands() {
  const BV = fc.integer({ min: 0, max: 30 });
  return [
    fc.tuple(BV, fc.constantFrom(BPF_ANY, BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK)).map(([v, flags]) =>
      command(`push(${v}, ${flags})`, (real, fake) => {
        const r = same('push', real, fake, (m) => m.push(v8(v), { flags }));
        if (r.ok !== undefined || !('err' in r)) for (const m of [real, fake]) pushed(m).add(v);
      }),
    ),
    BV.map((v) =>
      command(`peek(${v})`, (real, fake) => {
        const r = outcome(() => real.peek(v8(v)));
        const f = outcome(() => fake.peek(v8(v)));
        assert.equal(f.ok, pushed(fake).has(v), 'the fake is exact');
        if (r.ok === false) assert.equal(f.ok, false, 'the kernel says certainly absent: so must the fake');
        if (pushed(real).has(v)) assert.equal(r.ok, true, 'no false negative (kernel)');
      }),
    ),
    fc.constant(
      command('refused', (real, fake) => {
        same('lookup', real, fake, (m) => m.lookup(null));
        same('lookupAndDelete', real, fake, (m) => m.lookupAndDelete(null));
        same('pop', real, fake, (m) => m.pop());
        same('delete', real, fake, (m) => m.delete(null));
        same('getNextKey', real, fake, (m) => m.getNextKey());
        same('keys', real, fake, (m) => [...m.keys()]);
        same('lookupBatch', real, fake, (m) => [...m.lookupBatch()]);
        same('peek()', real, fake, (m) => m.peek());
      }),
    ),
    fc.integer({ min: 0, max: 19 }).map((i) =>
      i === 0
        ? command('freeze()', (real, fake) => same('freeze', real, fake, (m) => m.freeze()))
        : command('peek(0)', (real, fake) => {
            if (pushed(real).has(0)) same('peek(0)', real, fake, (m) => m.peek(v8(0)));
          }),
    ),
  ];
}
function pushed(m) {
  if (!pushedTo.has(m)) pushedTo.set(m, new Set());
  return pushedTo.get(m);
}
property('bloom_filter', { type: MapType.BloomFilter, keySize: 0, valueSize: 8, maxEntries: 16 }, bloomCommands(), () => {});

// ---- BPF_F_LOCK on a value with a bpf_spin_lock ----

const locked = defineStruct('locked', { lock: bpfSpinLock, n: 'u64' });
for (const [name, type] of [
  ['hash with a bpf_spin_lock', MapType.Hash],
  ['array with a bpf_spin_lock', MapType.Array],
]) {
  property(
    name,
    { type, key: u32, value: locked, maxEntries: 4 },
    keyedCommands(
      fc.integer({ min: 0, max: 5 }).map((n) => u32.encode(n)),
      showU32,
      { perCpu: false, ordered: type === MapType.Array, valueSize: 16 },
    ),
  );
}

test('figures', () => {
  assert.ok(stats.sequences >= 10 * RUNS, `${stats.sequences} sequences`);
  console.log(`# fake vs kernel: ${stats.sequences} sequences, ${stats.steps} commands compared`);
});
