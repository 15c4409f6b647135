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

  class Update {
    constructor(key, value, flags) {
      Object.assign(this, { key, value, flags });
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      const got = outcome(() => r.update(k(this.key), encode(this.value), { flags: this.flags }));
      const present = m.has(this.key);
      if (this.flags === BPF_NOEXIST && present) return expectErr(got, 'EEXIST', this);
      if (this.flags === BPF_EXIST && !present) return expectErr(got, 'ENOENT', this);
      if (!present && m.size >= MAX) return expectErr(got, 'E2BIG', this);
      assert.equal(got.err, undefined, `${this}: ${got.err}`);
      m.set(this.key, stored(this.value));
    }
    toString() {
      return `update(${this.key}, ${JSON.stringify(this.value)}, ${FLAG_NAME[this.flags]})`;
    }
  }
  class Lookup {
    constructor(key) {
      this.key = key;
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      assert.deepEqual(decode(r.lookup(k(this.key))), m.get(this.key), `${this}`);
    }
    toString() {
      return `lookup(${this.key})`;
    }
  }
  class Delete {
    constructor(key) {
      this.key = key;
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      assert.equal(r.delete(k(this.key)), m.delete(this.key), `${this}`);
    }
    toString() {
      return `delete(${this.key})`;
    }
  }
  class LookupAndDelete {
    constructor(key) {
      this.key = key;
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      assert.deepEqual(decode(r.lookupAndDelete(k(this.key))), m.get(this.key), `${this}`);
      m.delete(this.key);
    }
    toString() {
      return `lookupAndDelete(${this.key})`;
    }
  }
  class GetNextKey {
    constructor(key) {
      this.key = key;
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      const next = r.getNextKey(this.key === null ? undefined : k(this.key));
      const n = next === undefined ? undefined : Number(u32.decode(next));
      if (m.size === 0) return assert.equal(n, undefined, `${this} on an empty map`);
      if (this.key === null || !m.has(this.key)) return assert.ok(m.has(n), `${this}: a key of the map (restart), got ${n}`);
      // From a present key: another present key, or the end.
      if (n !== undefined) assert.ok(m.has(n) && n !== this.key, `${this} → ${n}`);
    }
    toString() {
      return `getNextKey(${this.key})`;
    }
  }
  class WalkAll {
    check = () => true;
    run(m, r) {
      stats.steps++;
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
    }
    toString() {
      return 'walk()';
    }
  }
  class UpdateBatch {
    constructor(entries) {
      this.entries = entries;
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      const got = outcome(() =>
        r.updateBatch(
          this.entries.map(([key]) => k(key)),
          this.entries.map(([, val]) => encode(val)),
        ),
      );
      // The kernel applies elements in order and stops at the first that fails (a full map).
      let applied = 0;
      for (const [key, val] of this.entries) {
        if (!m.has(key) && m.size >= MAX) break;
        m.set(key, stored(val));
        applied++;
      }
      if (applied === this.entries.length) assert.equal(got.ok, applied, `${this}`);
      else {
        expectErr(got, 'E2BIG', this);
        assert.equal(got.count, applied, `${this}: applied count`);
      }
    }
    toString() {
      return `updateBatch(${JSON.stringify(this.entries)})`;
    }
  }
  class DeleteBatch {
    constructor(keys) {
      this.keys = keys;
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      const got = outcome(() => r.deleteBatch(this.keys.map(k)));
      let deleted = 0;
      for (const key of this.keys) {
        if (!m.delete(key)) break;
        deleted++;
      }
      if (deleted === this.keys.length) assert.equal(got.ok, deleted, `${this}`);
      else {
        expectErr(got, 'ENOENT', this);
        assert.equal(got.count, deleted, `${this}: deleted count`);
      }
    }
    toString() {
      return `deleteBatch(${JSON.stringify(this.keys)})`;
    }
  }
  return [
    fc.tuple(KEY, VALUE, FLAG).map(([a, b, c]) => new Update(a, b, c)),
    KEY.map((a) => new Lookup(a)),
    KEY.map((a) => new Delete(a)),
    KEY.map((a) => new LookupAndDelete(a)),
    fc.option(KEY, { nil: null }).map((a) => new GetNextKey(a)),
    fc.constant(new WalkAll()),
    fc.array(fc.tuple(KEY, VALUE), { minLength: 1, maxLength: 4 }).map((e) => new UpdateBatch(e)),
    fc.uniqueArray(KEY, { minLength: 1, maxLength: 4 }).map((e) => new DeleteBatch(e)),
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
  class Update {
    constructor(key, value, flags) {
      Object.assign(this, { key, value, flags });
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      const got = outcome(() => r.update(k(this.key), v(this.value), { flags: this.flags }));
      if (this.key >= AMAX) return expectErr(got, 'E2BIG', this);
      if (this.flags === BPF_NOEXIST) return expectErr(got, 'EEXIST', this); // every index exists
      assert.equal(got.err, undefined, `${this}`);
      m[this.key] = this.value;
    }
    toString() {
      return `update(${this.key}, ${this.value}, ${FLAG_NAME[this.flags]})`;
    }
  }
  class Lookup {
    constructor(key) {
      this.key = key;
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      assert.equal(num(r.lookup(k(this.key))), this.key < AMAX ? m[this.key] : undefined, `${this}`);
    }
    toString() {
      return `lookup(${this.key})`;
    }
  }
  class Delete {
    constructor(key) {
      this.key = key;
    }
    check = () => true;
    run(_m, r) {
      stats.steps++;
      expectErr(
        outcome(() => r.delete(k(this.key))),
        'EINVAL',
        this,
      );
    }
    toString() {
      return `delete(${this.key})`;
    }
  }
  class LookupAndDelete {
    constructor(key) {
      this.key = key;
    }
    check = () => true;
    run(_m, r) {
      stats.steps++;
      expectErr(
        outcome(() => r.lookupAndDelete(k(this.key))),
        'ENOTSUPP',
        this,
      );
    }
    toString() {
      return `lookupAndDelete(${this.key})`;
    }
  }
  class GetNextKey {
    constructor(key) {
      this.key = key;
    }
    check = () => true;
    run(_m, r) {
      stats.steps++;
      const next = r.getNextKey(this.key === null ? undefined : k(this.key));
      const n = next === undefined ? undefined : Number(u32.decode(next));
      const want = this.key === null || this.key >= AMAX ? 0 : this.key + 1 < AMAX ? this.key + 1 : undefined;
      assert.equal(n, want, `${this}`);
    }
    toString() {
      return `getNextKey(${this.key})`;
    }
  }
  class Walk {
    check = () => true;
    run(m, r) {
      stats.steps++;
      const got = [...r.entries()].map(([key, val]) => [Number(u32.decode(key)), num(val)]);
      assert.deepEqual(
        got,
        m.map((x, i) => [i, x]),
      );
    }
    toString() {
      return 'walk()';
    }
  }
  return [
    fc.tuple(AKEY, VAL, FLAG).map(([a, b, c]) => new Update(a, b, c)),
    AKEY.map((a) => new Lookup(a)),
    AKEY.map((a) => new Delete(a)),
    AKEY.map((a) => new LookupAndDelete(a)),
    fc.option(AKEY, { nil: null }).map((a) => new GetNextKey(a)),
    fc.constant(new Walk()),
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
  class Push {
    constructor(value, flags) {
      Object.assign(this, { value, flags });
    }
    check = () => true;
    run(m, r) {
      stats.steps++;
      const got = outcome(() => r.push(v(this.value), { flags: this.flags }));
      if (this.flags === BPF_NOEXIST) return expectErr(got, 'EINVAL', this);
      if (m.length >= QMAX) {
        if (this.flags !== BPF_EXIST) return expectErr(got, 'E2BIG', this);
        m.shift(); // full with BPF_EXIST: the oldest element makes room (queue head, stack bottom)
      }
      assert.equal(got.err, undefined, `${this}`);
      m.push(this.value);
    }
    toString() {
      return `push(${this.value}, ${FLAG_NAME[this.flags]})`;
    }
  }
  class Pop {
    check = () => true;
    run(m, r) {
      stats.steps++;
      assert.equal(num(r.pop()), isStack ? m.pop() : m.shift(), 'pop');
    }
    toString() {
      return 'pop()';
    }
  }
  class Peek {
    check = () => true;
    run(m, r) {
      stats.steps++;
      assert.equal(num(r.peek()), isStack ? m.at(-1) : m[0], 'peek');
    }
    toString() {
      return 'peek()';
    }
  }
  return [fc.tuple(VAL, FLAG).map(([a, b]) => new Push(a, b)), fc.constant(new Pop()), fc.constant(new Peek())];
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
