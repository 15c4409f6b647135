// Model-based property tests: random sequences of operations on real maps, checked step by step
// against an in-memory model of the kernel's semantics, errno codes included. fast-check prints the
// seed and the shrunk sequence of any failure; BPFMAP_PROP_SEED=… replays it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BPF_ANY, BPF_EXIST, BPF_F_NO_PREALLOC, BPF_NOEXIST, BpfError, BpfMap, MapType, possibleCpus, u32, u64 } from 'bpfmap';

const RUNS = Number(process.env.BPFMAP_PROP_RUNS ?? 200);
const STEPS = 200;
const SEED = process.env.BPFMAP_PROP_SEED === undefined ? undefined : Number(process.env.BPFMAP_PROP_SEED);
const NCPU = possibleCpus();
const FLAG_NAME = { [BPF_ANY]: 'ANY', [BPF_NOEXIST]: 'NOEXIST', [BPF_EXIST]: 'EXIST' };

const k = (n) => u32.encode(n);
const v = (n) => u64.encode(BigInt(n));
const num = (b) => (b === undefined ? undefined : Number(u64.decode(b)));

/** Runs `fn`, returning its result or the BpfError code it threw. */
function outcome(fn) {
  try {
    return { ok: fn() };
  } catch (e) {
    if (BpfError.is(e)) return { err: e.code, count: e.count };
    throw e;
  }
}

function expectErr(got, code, what) {
  assert.equal(got.err, code, `${what}: expected ${code}, got ${got.err ?? 'success'}`);
}

const stats = { sequences: 0, steps: 0 };

/** One fast-check command: `step(model, real)` runs one operation on both and compares. */
const command = (label, step) => ({
  check: () => true,
  run(model, real) {
    stats.steps++;
    step(model, real);
  },
  toString: () => label,
});

/** Runs the model-based property for one map kind. */
function property(name, makeMap, makeModel, commands) {
  test(`${name}: ${RUNS} random sequences of up to ${STEPS} operations match the model`, () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: STEPS, size: 'max' }), (cmds) => {
        const real = makeMap();
        try {
          stats.sequences++;
          fc.modelRun(() => ({ model: makeModel(), real }), cmds);
        } finally {
          real.close();
        }
      }),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
  });
}

// ---- hash-like maps: hash, hash without preallocation, per-CPU hash ----

const MAX = 6;
const KEY = fc.integer({ min: 0, max: 9 });
const VAL = fc.integer({ min: 0, max: 2 ** 40 });
const FLAG = fc.constantFrom(BPF_ANY, BPF_NOEXIST, BPF_EXIST);

/** Values the model stores: a number, or (per-CPU) one number per CPU. */
function hashCommands(perCpu) {
  const encode = (x) => (perCpu ? (Array.isArray(x) ? x.map(v) : v(x)) : v(x));
  const decode = (got) => (got === undefined ? undefined : perCpu ? got.map(num) : num(got));
  const stored = (x) => (perCpu ? (Array.isArray(x) ? x : Array(NCPU).fill(x)) : x);
  const VALUE = perCpu ? fc.oneof(VAL, fc.array(VAL, { minLength: NCPU, maxLength: NCPU })) : VAL;

  const update = ([key, value, flags]) =>
    command(`update(${key}, ${JSON.stringify(value)}, ${FLAG_NAME[flags]})`, (m, r) => {
      const got = outcome(() => r.update(k(key), encode(value), { flags }));
      const present = m.has(key);
      if (flags === BPF_NOEXIST && present) return expectErr(got, 'EEXIST', 'update');
      if (flags === BPF_EXIST && !present) return expectErr(got, 'ENOENT', 'update');
      if (!present && m.size >= MAX) return expectErr(got, 'E2BIG', 'update');
      assert.equal(got.err, undefined, `update: ${got.err}`);
      m.set(key, stored(value));
    });
  const lookup = (key) => command(`lookup(${key})`, (m, r) => assert.deepEqual(decode(r.lookup(k(key))), m.get(key)));
  const del = (key) => command(`delete(${key})`, (m, r) => assert.equal(r.delete(k(key)), m.delete(key)));
  const lookupAndDelete = (key) =>
    command(`lookupAndDelete(${key})`, (m, r) => {
      assert.deepEqual(decode(r.lookupAndDelete(k(key))), m.get(key));
      m.delete(key);
    });
  const getNextKey = (key) =>
    command(`getNextKey(${key})`, (m, r) => {
      const next = r.getNextKey(key === null ? undefined : k(key));
      const n = next === undefined ? undefined : Number(u32.decode(next));
      if (m.size === 0) return assert.equal(n, undefined, 'on an empty map');
      if (key === null || !m.has(key)) return assert.ok(m.has(n), `a key of the map (restart), got ${n}`);
      // From a present key: another present key, or the end.
      if (n !== undefined) assert.ok(m.has(n) && n !== key, `→ ${n}`);
    });
  const walk = command('walk()', (m, r) => {
    const keys = [...r.keys()].map((x) => Number(u32.decode(x)));
    assert.equal(new Set(keys).size, keys.length, 'no duplicates');
    assert.deepEqual(
      keys.sort((a, b) => a - b),
      [...m.keys()].sort((a, b) => a - b),
    );
    const pairs = [];
    for (const c of r.lookupBatch({ batchSize: 1 + (m.size % 3) })) {
      for (let i = 0; i < c.count; i++) {
        const key = Number(u32.decode(c.keys.subarray(i * 4, i * 4 + 4)));
        const bytes = c.values.subarray(i * r.valueBufferSize, (i + 1) * r.valueBufferSize);
        const val = perCpu ? Array.from({ length: NCPU }, (_, cpu) => num(bytes.subarray(cpu * 8, cpu * 8 + 8))) : num(bytes);
        pairs.push([key, val]);
      }
    }
    assert.deepEqual(new Map(pairs), m, 'batch lookup sees the model');
  });
  const updateBatch = (entries) =>
    command(`updateBatch(${JSON.stringify(entries)})`, (m, r) => {
      const got = outcome(() =>
        r.updateBatch(
          entries.map(([key]) => k(key)),
          entries.map(([, val]) => encode(val)),
        ),
      );
      // The kernel applies elements in order and stops at the first that fails (a full map).
      let applied = 0;
      for (const [key, val] of entries) {
        if (!m.has(key) && m.size >= MAX) break;
        m.set(key, stored(val));
        applied++;
      }
      if (applied === entries.length) return assert.equal(got.ok, applied);
      expectErr(got, 'E2BIG', 'updateBatch');
      assert.equal(got.count, applied, 'applied count');
    });
  const deleteBatch = (keys) =>
    command(`deleteBatch(${JSON.stringify(keys)})`, (m, r) => {
      const got = outcome(() => r.deleteBatch(keys.map(k)));
      let deleted = 0;
      for (const key of keys) {
        if (!m.delete(key)) break;
        deleted++;
      }
      if (deleted === keys.length) return assert.equal(got.ok, deleted);
      expectErr(got, 'ENOENT', 'deleteBatch');
      assert.equal(got.count, deleted, 'deleted count');
    });
  return [
    fc.tuple(KEY, VALUE, FLAG).map(update),
    KEY.map(lookup),
    KEY.map(del),
    KEY.map(lookupAndDelete),
    fc.option(KEY, { nil: null }).map(getNextKey),
    fc.constant(walk),
    fc.array(fc.tuple(KEY, VALUE), { minLength: 1, maxLength: 4 }).map(updateBatch),
    fc.uniqueArray(KEY, { minLength: 1, maxLength: 4 }).map(deleteBatch),
  ];
}

property(
  'hash',
  () => BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: MAX }),
  () => new Map(),
  hashCommands(false),
);
property(
  'hash (BPF_F_NO_PREALLOC)',
  () => BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: MAX, flags: BPF_F_NO_PREALLOC }),
  () => new Map(),
  hashCommands(false),
);
property(
  'percpu_hash',
  () => BpfMap.create({ type: MapType.PercpuHash, keySize: 4, valueSize: 8, maxEntries: MAX }),
  () => new Map(),
  hashCommands(true),
);

// ---- array ----

const AMAX = 5;
const AKEY = fc.integer({ min: 0, max: AMAX + 2 });

function arrayCommands() {
  const update = ([key, value, flags]) =>
    command(`update(${key}, ${value}, ${FLAG_NAME[flags]})`, (m, r) => {
      const got = outcome(() => r.update(k(key), v(value), { flags }));
      if (key >= AMAX) return expectErr(got, 'E2BIG', 'update');
      if (flags === BPF_NOEXIST) return expectErr(got, 'EEXIST', 'update'); // every index exists
      assert.equal(got.err, undefined);
      m[key] = value;
    });
  const lookup = (key) =>
    command(`lookup(${key})`, (m, r) => assert.equal(num(r.lookup(k(key))), key < AMAX ? m[key] : undefined));
  const del = (key) =>
    command(`delete(${key})`, (_m, r) =>
      expectErr(
        outcome(() => r.delete(k(key))),
        'EINVAL',
        'delete',
      ),
    );
  const lookupAndDelete = (key) =>
    command(`lookupAndDelete(${key})`, (_m, r) =>
      expectErr(
        outcome(() => r.lookupAndDelete(k(key))),
        'ENOTSUPP',
        'lookupAndDelete',
      ),
    );
  const getNextKey = (key) =>
    command(`getNextKey(${key})`, (_m, r) => {
      const next = r.getNextKey(key === null ? undefined : k(key));
      const n = next === undefined ? undefined : Number(u32.decode(next));
      assert.equal(n, key === null || key >= AMAX ? 0 : key + 1 < AMAX ? key + 1 : undefined);
    });
  const walk = command('walk()', (m, r) =>
    assert.deepEqual(
      [...r.entries()].map(([key, val]) => [Number(u32.decode(key)), num(val)]),
      m.map((x, i) => [i, x]),
    ),
  );
  return [
    fc.tuple(AKEY, VAL, FLAG).map(update),
    AKEY.map(lookup),
    AKEY.map(del),
    AKEY.map(lookupAndDelete),
    fc.option(AKEY, { nil: null }).map(getNextKey),
    fc.constant(walk),
  ];
}

property(
  'array',
  () => BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: AMAX }),
  () => Array(AMAX).fill(0),
  arrayCommands(),
);

// ---- queue and stack ----

const QMAX = 4;

function queueCommands(isStack) {
  const push = ([value, flags]) =>
    command(`push(${value}, ${FLAG_NAME[flags]})`, (m, r) => {
      const got = outcome(() => r.push(v(value), { flags }));
      if (flags === BPF_NOEXIST) return expectErr(got, 'EINVAL', 'push');
      if (m.length >= QMAX) {
        if (flags !== BPF_EXIST) return expectErr(got, 'E2BIG', 'push');
        m.shift(); // full with BPF_EXIST: the oldest element makes room (queue head, stack bottom)
      }
      assert.equal(got.err, undefined);
      m.push(value);
    });
  const pop = command('pop()', (m, r) => assert.equal(num(r.pop()), isStack ? m.pop() : m.shift()));
  const peek = command('peek()', (m, r) => assert.equal(num(r.peek()), isStack ? m.at(-1) : m[0]));
  return [fc.tuple(VAL, FLAG).map(push), fc.constant(pop), fc.constant(peek)];
}

for (const [name, type] of [
  ['queue', MapType.Queue],
  ['stack', MapType.Stack],
]) {
  property(
    name,
    () => BpfMap.create({ type, keySize: 0, valueSize: 8, maxEntries: QMAX }),
    () => [],
    queueCommands(type === MapType.Stack),
  );
}

test('figures for docs/reliability.md', () => {
  assert.ok(stats.sequences >= 6 * RUNS, `${stats.sequences} sequences`);
  console.log(`# model-based: ${stats.sequences} sequences, ${stats.steps} operations checked against the model`);
});
