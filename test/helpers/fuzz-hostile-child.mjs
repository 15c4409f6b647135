// biome-ignore-all lint/suspicious/noSparseArray: arrays with holes are the input under test
// biome-ignore-all lint/suspicious/noControlCharactersInRegex: the CLI check looks for raw control characters
// biome-ignore-all lint/complexity/noCommaOperator: getters that count, act and return in one expression
// biome-ignore-all lint/suspicious/noAssignInExpressions: the same
// biome-ignore-all lint/suspicious/useIterableCallbackReturn: words.forEach writes into a buffer
// The hostile-input fuzzer of issue 13, one class per run (run by test/83.fuzz-hostile.test.mjs):
//   node fuzz-hostile-child.mjs CLASS COUNT SEED START
// Classes: getters, buffers, holes, fdreuse, copies, btf, cli. Input i uses a PRNG seeded from
// (SEED, CLASS, i), so `START=i COUNT=1` replays one input. Before input i it writes `S i`; each
// finding is a line `F {json}`; at the end `D {json}`. The parent counts a crash or a hang at the
// last `S` line and restarts after it.
// The oracle: every victim map has a model of its contents, compared after each input with what
// an observer (the same kernel map opened again by id, so fd games on the victim do not touch it)
// reads back; fds in /proc/self/fd are counted around each input; every error must be a BpfError
// (never EFAULT), TypeError or RangeError with a clear message, or the user's own exception.
import { closeSync, cpSync, linkSync, mkdirSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as lib from 'bpfmap';

const { BpfMap, MapType, BpfError, u32, defineStruct } = lib;
const [CLS, COUNT_S, SEED_S, START_S] = process.argv.slice(2);
const COUNT = Number(COUNT_S ?? 100);
const SEED = Number(SEED_S ?? 1);
const START = Number(START_S ?? 0);
const root = fileURLToPath(new URL('../..', import.meta.url));

const emit = (s) => writeSync(1, `${s}\n`);
let cur = -1;

function finding(kind, msg, extra = {}) {
  emit(`F ${JSON.stringify({ i: cur, kind, msg: String(msg).slice(0, 400), ...extra })}`);
}

// A small seeded PRNG (mulberry32), one stream per input.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
let rnd = prng(1);
const int = (n) => Math.floor(rnd() * n);
const pick = (a) => a[int(a.length)];
const randBytes = (n) => Uint8Array.from({ length: n }, () => int(256));

// The bytes a view really covers, read through the intrinsic getters: a subclass may lie about its
// offset or length (the 'lie*' buffers), and a detached or shrunk buffer covers nothing.
const TA = Object.getPrototypeOf(Uint8Array.prototype);
const intrinsic = (name) => Object.getOwnPropertyDescriptor(TA, name).get;
const [taBuffer, taOffset, taLength] = ['buffer', 'byteOffset', 'byteLength'].map(intrinsic);
/** The bytes `b` covers as its own view (empty when detached or out of bounds). */
function realView(b) {
  const len = taLength.call(b);
  return len === 0 ? new Uint8Array(0) : new Uint8Array(taBuffer.call(b), taOffset.call(b), len);
}
const hex = (b) => Buffer.from(realView(b)).toString('hex');
const fdCount = () => readdirSync('/proc/self/fd').length;
const USER = new Error('the test getter threw this on purpose');
const NCPU = lib.possibleCpus();
const pair = defineStruct('pair', { a: 'u32', b: 'i64' });

/** Set while an operation runs on an fd the caller closed outside the library (fs.closeSync). */
let foreignFd = false;

/** Every error must be one a caller can act on. Returns true when it is. */
function judgeError(label, e) {
  if (e === USER) return true;
  const ok = e instanceof BpfError || e instanceof TypeError || e instanceof RangeError;
  const msg = e?.message ?? String(e);
  if (!ok) return (finding('bad-error', `${label}: ${e?.name}: ${msg}`), false);
  if (
    /undefined undefined|Maximum call stack|Cannot read properties|is not a function|Invalid typed array length|out of bounds|allocation failed/.test(
      msg,
    ) ||
    msg === ''
  )
    return (finding('bad-error', `${label}: ${e.name}: ${msg}`), false);
  if (BpfError.is(e) && e.code === 'EFAULT') {
    // After fs.closeSync(map.fd) the number may name a map of larger sizes: the guard page and the
    // guarded staging areas turn the kernel's oversize copy into EFAULT. That is the guarantee.
    if (foreignFd) return true;
    return (finding('efault', `${label}: the kernel got a bad pointer: ${msg}`), false);
  }
  return true;
}

// ---- victims: maps with a model and an observer ----
const victims = [];
class Victim {
  constructor(name, opts) {
    this.name = name;
    this.opts = opts;
    this.open();
  }
  open() {
    this.m = BpfMap.create({ ...this.opts, name: `fzh_${this.name}` });
    this.obs = BpfMap.fromId(this.m.id);
    this.ks = this.m.keySize;
    this.vbs = this.m.valueBufferSize;
    this.isArray = this.opts.type === MapType.Array || this.opts.type === MapType.PercpuArray;
    for (let k = 0; k < 6; k++) this.obs.update(this.key(k), randBytes(this.vbs));
    this.model = this.snap();
  }
  reopen() {
    if (!this.m.closed) this.m.close();
    this.obs.close();
    this.open();
  }
  key(k) {
    const b = new Uint8Array(this.ks);
    new DataView(b.buffer).setUint32(0, k, true);
    return b;
  }
  snap() {
    const s = new Map();
    for (const c of this.obs.lookupBatch())
      for (let i = 0; i < c.count; i++)
        s.set(hex(c.keys.subarray(i * this.ks, (i + 1) * this.ks)), hex(c.values.subarray(i * this.vbs, (i + 1) * this.vbs)));
    return s;
  }
  close() {
    if (!this.m.closed) this.m.close();
    this.obs.close();
  }
}
/** Bytes that differ between two models (a missing element counts its key and value). */
function diffBytes(a, b, width) {
  let n = 0;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) n += width;
    else for (let i = 0; i < v.length; i += 2) if (v.slice(i, i + 2) !== w.slice(i, i + 2)) n++;
  }
  for (const k of b.keys()) if (!a.has(k)) n += width;
  return n;
}
/** Compares every victim with its expected model; reports and resynchronises on a difference. */
function checkVictims(label, expected = new Map()) {
  for (const v of victims) {
    const want = expected.get(v) ?? v.model;
    const got = v.snap();
    const n = diffBytes(want, got, v.ks + v.vbs);
    if (n > 0) finding('bytes', `${label}: ${n} bytes of map ${v.name} lost or wrongly written`, { bytes: n });
    v.model = got;
  }
}
const modelValue = (v, key) => v.model.get(hex(key));
function flatResult(r) {
  if (r === undefined) return undefined;
  if (Array.isArray(r)) return r.map((x) => hex(x) + '00'.repeat((8 - (x.length % 8)) % 8)).join('');
  return hex(r);
}

function mkVictims() {
  victims.push(
    new Victim('hash', { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 64 }),
    new Victim('hash2', { type: MapType.Hash, keySize: 8, valueSize: 16, maxEntries: 64 }),
    new Victim('arr', { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 16 }),
    new Victim('pc', { type: MapType.PercpuHash, keySize: 4, valueSize: 8, maxEntries: 16 }),
    new Victim('st', { type: MapType.Hash, key: u32, value: pair, maxEntries: 32 }),
  );
}

// ---- hostile buffers ----
/** A buffer holding `content` (or `size` bytes) built as `variant`; `bad`: the call must refuse it. */
function hostileBuf(variant, content) {
  const n = content.length;
  const copy = (u) => (u.set(content), u);
  switch (variant) {
    case 'plain':
      return { buf: copy(new Uint8Array(n)), bad: false };
    case 'offset': {
      const ab = new ArrayBuffer(n + 16);
      return { buf: copy(new Uint8Array(ab, 8, n)), bad: false };
    }
    case 'shared':
      return { buf: copy(new Uint8Array(new SharedArrayBuffer(n))), bad: 'either' };
    case 'resizable':
      return { buf: copy(new Uint8Array(new ArrayBuffer(n, { maxByteLength: n + 64 }))), bad: 'either' };
    case 'detached': {
      const u = copy(new Uint8Array(n));
      structuredClone(u.buffer, { transfer: [u.buffer] });
      return { buf: u, bad: true };
    }
    case 'shrunk': {
      const ab = new ArrayBuffer(n, { maxByteLength: n + 64 });
      const u = copy(new Uint8Array(ab));
      ab.resize(Math.max(0, n - 1));
      return { buf: u, bad: true };
    }
    case 'shrunkFixed': {
      const ab = new ArrayBuffer(n + 8, { maxByteLength: n + 64 });
      const u = copy(new Uint8Array(ab, 4, n));
      ab.resize(2);
      return { buf: u, bad: true };
    }
    case 'grown': {
      const ab = new ArrayBuffer(n, { maxByteLength: n + 64 });
      const u = copy(new Uint8Array(ab));
      ab.resize(n + 8);
      return { buf: u, bad: 'larger' };
    }
    case 'lieSmall': {
      class Lie extends Uint8Array {
        get length() {
          return n;
        }
        get byteLength() {
          return n;
        }
      }
      return { buf: new Lie(1), bad: true };
    }
    case 'lieOffset': {
      class Lie extends Uint8Array {
        get byteOffset() {
          return 1 << 20;
        }
      }
      return { buf: copy(new Lie(n)), bad: 'either' };
    }
    case 'wrongSize': {
      const u = new Uint8Array(n + pick([1, -1, 7]));
      u.set(content.subarray(0, u.length));
      return { buf: u, bad: 'size', need: n };
    }
    default:
      throw new Error(variant);
  }
}
const BUF_VARIANTS = [
  'plain',
  'offset',
  'shared',
  'resizable',
  'detached',
  'shrunk',
  'shrunkFixed',
  'grown',
  'lieSmall',
  'lieOffset',
  'wrongSize',
];

/**
 * Runs one operation on victim `v` and checks it. `op` returns the result; `effect(model, result)`
 * applies what a success must have done (on a copy of the model); `bad`: the input must be refused.
 */
function judgeOp(label, v, op, { effect, bad = false, expect = new Map(), sizeError = false, result } = {}) {
  let r;
  let ok = false;
  try {
    r = op();
    ok = true;
  } catch (e) {
    if (judgeError(label, e) && sizeError && !(e instanceof RangeError) && e !== USER)
      finding('error-type', `${label}: a wrong-size buffer must be a RangeError, got ${e.name}: ${e.message}`);
  }
  const want = new Map(expect); // after the call: getters record what their own calls changed
  if (ok && bad === true) finding('accepted', `${label}: accepted input it must refuse`);
  if (ok && effect) {
    const m = new Map(want.get(v) ?? v.model);
    effect(m, r);
    want.set(v, m);
  }
  if (ok && result) result(r);
  if (foreignFd) {
    // The call may have reached the map that took the number instead of v: v either holds what a
    // success would have done or is unchanged; every other victim is untouched.
    if (diffBytes(v.model, v.snap(), v.ks + v.vbs) === 0) want.delete(v);
  }
  checkVictims(label, want);
  return ok;
}

// ---- class: buffers ----
function classBuffers() {
  const v = pick(victims.filter((x) => x.name !== 'st'));
  const k = v.key(int(v.isArray ? 14 : 10));
  const val = randBytes(v.vbs);
  const viaFd = rnd() < 0.3;
  const ref = viaFd ? v.m.fd : v.m;
  const variant = pick(BUF_VARIANTS);
  const libbpf = rnd() < 0.5;
  const slotNames = ['key', 'value', 'out'];
  const slot = pick(slotNames);
  const B = (which, content) => (which === slot ? hostileBuf(variant, content) : { buf: new Uint8Array(content), bad: false });
  const kb = B('key', k);
  const vb = B('value', val);
  const ob = B('out', new Uint8Array(v.vbs));
  const used = { key: kb, value: vb, out: ob };
  const set = (m) => m.set(hex(k), hex(val));
  const checkOut = (buf, label) => () => {
    const want = modelValue(v, k);
    // A libbpf-shaped call may take a larger buffer ('grown'): the value is its first bytes.
    if (want !== undefined && hex(buf).slice(0, want.length) !== want && slot !== 'out')
      finding('wrong-result', `${label}(${slot}: ${variant}) on ${v.name}: returned ${hex(buf)}, the map holds ${want}`);
  };
  const opKind = int(libbpf ? 8 : 7);
  let label;
  let run;
  let slots;
  if (!libbpf) {
    switch (opKind) {
      case 0:
        label = 'update';
        slots = ['key', 'value'];
        run = { op: () => v.m.update(kb.buf, vb.buf), effect: set };
        break;
      case 1:
        label = 'lookup';
        slots = ['key', 'out'];
        run = {
          op: () => v.m.lookup(kb.buf, slot === 'out' ? { out: ob.buf } : undefined),
          result: (r) => {
            const want = modelValue(v, k);
            if (slot !== 'out' && flatResult(r) !== want && !(r === undefined && want === undefined))
              finding('wrong-result', `lookup returned ${flatResult(r)} for a key holding ${want}`);
          },
        };
        break;
      case 2:
        label = 'delete';
        slots = ['key'];
        run = { op: () => v.m.delete(kb.buf), effect: (m) => m.delete(hex(k)) };
        break;
      case 3:
        label = 'lookupAndDelete';
        slots = ['key', 'out'];
        run = {
          op: () => v.m.lookupAndDelete(kb.buf, slot === 'out' ? { out: ob.buf } : undefined),
          effect: (m) => m.delete(hex(k)),
        };
        break;
      case 4:
        label = 'getNextKey';
        slots = ['key'];
        run = { op: () => v.m.getNextKey(kb.buf) };
        break;
      case 5: {
        label = 'updateBatch';
        slots = ['key', 'value'];
        const flat = rnd() < 0.5;
        const k2 = v.key(int(10)); // a second element, plain
        const val2 = randBytes(v.vbs);
        const keys = flat ? Buffer.concat([Buffer.from(k), Buffer.from(k2)]) : [kb.buf, new Uint8Array(k2)];
        const values = flat ? Buffer.concat([Buffer.from(val), Buffer.from(val2)]) : [vb.buf, new Uint8Array(val2)];
        if (flat && slot !== 'out') used[slot] = { buf: slot === 'key' ? keys : values, bad: false };
        run = {
          op: () => v.m.updateBatch(keys, values),
          effect: (m) => {
            m.set(hex(k), hex(val));
            m.set(hex(k2), hex(val2));
          },
        };
        break;
      }
      default: {
        label = 'deleteBatch';
        slots = ['key'];
        run = { op: () => v.m.deleteBatch([kb.buf]), effect: (m) => m.delete(hex(k)) };
      }
    }
  } else {
    switch (opKind) {
      case 0:
        label = 'bpfMapUpdateElem';
        slots = ['key', 'value'];
        run = { op: () => lib.bpfMapUpdateElem(ref, kb.buf, vb.buf), effect: set };
        break;
      case 1:
        label = 'bpfMapLookupElem';
        slots = ['key', 'value'];
        used.value = hostileBuf(slot === 'value' ? variant : 'plain', new Uint8Array(v.vbs));
        run = {
          op: () => lib.bpfMapLookupElem(ref, kb.buf, used.value.buf),
          result: (r) => r && checkOut(used.value.buf, label)(),
        };
        break;
      case 2:
        label = 'bpfMapLookupAndDeleteElem';
        slots = ['key', 'value'];
        used.value = hostileBuf(slot === 'value' ? variant : 'plain', new Uint8Array(v.vbs));
        run = { op: () => lib.bpfMapLookupAndDeleteElem(ref, kb.buf, used.value.buf), effect: (m, r) => r && m.delete(hex(k)) };
        break;
      case 3:
        label = 'bpfMapDeleteElem';
        slots = ['key'];
        run = { op: () => lib.bpfMapDeleteElem(ref, kb.buf), effect: (m) => m.delete(hex(k)) };
        break;
      case 4:
        label = 'bpfMapGetNextKey';
        slots = ['key', 'value'];
        used.value = hostileBuf(slot === 'value' ? variant : 'plain', new Uint8Array(v.ks));
        run = { op: () => lib.bpfMapGetNextKey(ref, kb.buf, used.value.buf) };
        break;
      case 5:
        label = 'bpfMapUpdateBatch';
        slots = ['key', 'value'];
        run = { op: () => lib.bpfMapUpdateBatch(ref, kb.buf, vb.buf, 1), effect: set };
        break;
      case 6:
        label = 'bpfMapDeleteBatch';
        slots = ['key'];
        run = { op: () => lib.bpfMapDeleteBatch(ref, kb.buf, 1), effect: (m) => m.delete(hex(k)) };
        break;
      default: {
        const del = rnd() < 0.5;
        label = del ? 'bpfMapLookupAndDeleteBatch' : 'bpfMapLookupBatch';
        slots = ['key', 'value', 'out'];
        const n = 4;
        const mk = (s, size) => hostileBuf(slot === s ? variant : 'plain', new Uint8Array(size));
        used.key = mk('key', n * v.ks);
        used.value = mk('value', n * v.vbs);
        used.out = mk('out', Math.max(v.ks, 4));
        const fn = del ? lib.bpfMapLookupAndDeleteBatch : lib.bpfMapLookupBatch;
        const keysBuf = used.key.buf;
        run = {
          op: () => fn(ref, null, used.out.buf, keysBuf, used.value.buf, n),
          effect: (m, r) => {
            if (!del) return;
            // The keys the kernel wrote, where it wrote them (not where a lying subclass says).
            const real = realView(keysBuf).subarray(0, n * v.ks);
            for (let i = 0; i < r.count; i++) m.delete(hex(real.subarray(i * v.ks, (i + 1) * v.ks)));
          },
        };
      }
    }
  }
  const u = slots.includes(slot) ? used[slot] : { bad: false };
  let bad = u.bad === true || u.bad === 'size';
  if (u.bad === 'larger') bad = !libbpf; // libbpf-shaped functions take buffers at least as large
  // libbpf-shaped functions take buffers at least as large as they need (`need`: the size the
  // slot's buffer has in a well-formed call, e.g. max(key_size, 4) for a batch cursor).
  if (u.bad === 'size' && libbpf && used[slot].buf.length > used[slot].need) bad = false;
  judgeOp(`${label}(${slot}: ${slots.includes(slot) ? variant : 'plain'}) on ${v.name}${viaFd ? ' by fd' : ''}`, v, run.op, {
    effect: run.effect,
    result: run.result,
    bad: bad ? true : u.bad === 'either' ? false : bad,
    sizeError: u.bad === 'size' && bad,
  });
}

// ---- class: getters with side effects ----
/** One side effect for a getter, run on first access; it records what it changed. */
function sideEffect(kind, ctx) {
  return () => {
    switch (kind) {
      case 'detachKey':
        if (ctx.key.buffer.byteLength) structuredClone(ctx.key.buffer, { transfer: [ctx.key.buffer] });
        break;
      case 'detachValue':
        if (ctx.value?.buffer.byteLength) structuredClone(ctx.value.buffer, { transfer: [ctx.value.buffer] });
        break;
      case 'shrinkKey':
        ctx.key.buffer.resize(1);
        break;
      case 'shrinkValue':
        ctx.value?.buffer.resize(1);
        break;
      case 'reenterRead':
        for (const o of victims) if (!o.m.closed) o.m.lookup(o.key(pick([1, 2, 99])));
        if (!ctx.v.m.closed && ctx.v.ks === 4) ctx.v.m.lookupInt(99);
        break;
      case 'reenterWrite': {
        const o = pick(victims);
        if (o.m.closed) break;
        const k = o.key(o.isArray ? 15 : 200 + int(4));
        const val = randBytes(o.vbs);
        o.m.update(k, val);
        const m = new Map(ctx.expect.get(o) ?? o.model);
        m.set(hex(k), hex(val));
        ctx.expect.set(o, m);
        break;
      }
      case 'closeMap':
        ctx.v.m.close();
        ctx.decoys.push(BpfMap.create({ type: MapType.Hash, keySize: ctx.v.ks, valueSize: ctx.v.m.valueSize, maxEntries: 64 }));
        ctx.reopen = true;
        break;
      case 'throw':
        throw USER;
    }
  };
}
const EFFECTS = ['detachKey', 'detachValue', 'shrinkKey', 'shrinkValue', 'reenterRead', 'reenterWrite', 'closeMap', 'throw'];

/** An object whose `field` getter runs `fx` once and returns `value`; it counts reads. */
function getterObj(base, field, value, fx, reads) {
  const o = { ...base };
  Object.defineProperty(o, field, {
    enumerable: true,
    get() {
      reads.n++;
      if (reads.n === 1) fx();
      return value;
    },
  });
  return o;
}

function classGetters() {
  const v = pick(victims);
  const fxKind = pick(EFFECTS);
  const kn = int(v.isArray ? 14 : 10);
  const k = v.key(kn);
  const keyAb = new ArrayBuffer(v.ks, { maxByteLength: 64 });
  const key = new Uint8Array(keyAb);
  key.set(k);
  const val = randBytes(v.vbs);
  const value = new Uint8Array(new ArrayBuffer(v.vbs, { maxByteLength: v.vbs + 64 }));
  value.set(val);
  const ctx = { v, key, value, expect: new Map(), decoys: [], reopen: false };
  const fx = sideEffect(fxKind, ctx);
  const reads = { n: 0 };
  const isSt = v.name === 'st';
  const rec = { a: int(1000), b: BigInt(int(1000)) };
  const recBytes = pair.encode(rec);
  const ops = [
    ['lookup', () => v.m.lookup(key, getterObj({}, 'flags', 0, fx, reads)), null],
    ['lookup(out)', () => v.m.lookup(key, getterObj({}, 'out', new Uint8Array(v.vbs), fx, reads)), null],
    ['lookupAndDelete', () => v.m.lookupAndDelete(key, getterObj({}, 'flags', 0, fx, reads)), (m) => m.delete(hex(k))],
    ['update', () => v.m.update(key, value, getterObj({}, 'flags', 0, fx, reads)), (m) => m.set(hex(k), hex(val))],
    ['updateBatch', () => v.m.updateBatch([key], [value], getterObj({}, 'flags', 0, fx, reads)), (m) => m.set(hex(k), hex(val))],
    ['lookupBatch', () => [...v.m.lookupBatch(getterObj({}, 'batchSize', 4, fx, reads))], null],
    [
      'bpfMapUpdateBatch',
      () => lib.bpfMapUpdateBatch(v.m, key, value, 1, getterObj({}, pick(['elemFlags', 'flags']), 0, fx, reads)),
      (m) => m.set(hex(k), hex(val)),
    ],
    [
      'bpfMapDeleteBatch',
      () => lib.bpfMapDeleteBatch(v.m, key, 1, getterObj({}, pick(['elemFlags', 'flags']), 0, fx, reads)),
      (m) => m.delete(hex(k)),
    ],
    [
      'bpfMapLookupAndDeleteBatch',
      () => {
        const keys = new Uint8Array(4 * v.ks);
        const r = lib.bpfMapLookupAndDeleteBatch(
          v.m,
          null,
          new Uint8Array(8),
          keys,
          new Uint8Array(4 * v.vbs),
          4,
          getterObj({}, 'elemFlags', 0, fx, reads),
        );
        return { r, keys };
      },
      (m, { r, keys }) => {
        for (let i = 0; i < r.count; i++) m.delete(hex(keys.subarray(i * v.ks, (i + 1) * v.ks)));
      },
    ],
    [
      'updateInt',
      () => v.m.updateInt(kn, 7, getterObj({}, 'flags', 0, fx, reads)),
      v.vbs === 8 || v.name === 'pc' ? (m) => m.set(hex(k), '0700000000000000'.repeat(v.vbs / 8)) : null,
    ],
    [
      'update(valueOf flags)',
      () => v.m.update(key, value, { flags: { valueOf: () => (fx(), 0) } }),
      (m) => m.set(hex(k), hex(val)),
    ],
  ];
  if (isSt) {
    const recG = getterObj({ a: rec.a }, 'b', rec.b, fx, reads);
    const recG2 = getterObj({ b: rec.b }, 'a', rec.a, fx, reads);
    ops.push(
      ['updateStruct(record getter)', () => v.m.updateStruct(key, recG, pair), (m) => m.set(hex(k), hex(recBytes))],
      ['updateStructInt(record getter)', () => v.m.updateStructInt(kn, recG2, pair), (m) => m.set(hex(k), hex(recBytes))],
      ['typed.set(record getter)', () => v.m.typed(u32, pair).set(kn, recG), (m) => m.set(hex(k), hex(recBytes))],
      ['lookupStruct(opts getter)', () => v.m.lookupStruct(key, pair, getterObj({}, 'flags', 0, fx, reads)), null],
    );
  }
  if (v.name === 'pc') {
    const arr = [val.subarray(0, 8)];
    for (let i = 1; i < NCPU; i++) arr.push(val.subarray(i * 8, i * 8 + 8));
    const hostile = [...arr];
    Object.defineProperty(hostile, NCPU - 1, { get: () => (reads.n++, reads.n === 1 && fx(), arr[NCPU - 1]) });
    ops.push(['update(per-CPU element getter)', () => v.m.update(key, hostile), (m) => m.set(hex(k), hex(val))]);
  }
  const [name, op, eff] = pick(ops);
  const label = `${name} on ${v.name}, getter: ${fxKind}`;
  const before = modelValue(v, k);
  const ok = judgeOp(label, v, op, {
    effect: eff ?? undefined,
    expect: ctx.expect,
    result: (r) => {
      if ((name === 'lookup' || name === 'lookup(out)') && r !== undefined && flatResult(r) !== before)
        finding('wrong-result', `${label}: returned ${flatResult(r)}, the key holds ${before}`);
    },
  });
  if (reads.n > 1) finding('reread', `${label}: read the getter ${reads.n} times`);
  if (ok && ctx.reopen) finding('accepted', `${label}: succeeded on a map closed during the call`);
  for (const d of ctx.decoys) {
    const n = [...d.keys()].length;
    if (n) finding('bytes', `${label}: wrote ${n} elements into another map`, { bytes: n * (d.keySize + d.valueSize) });
    d.close();
  }
  if (ctx.reopen) v.reopen();
}

// ---- class: holes ----
function classHoles() {
  const v = pick(victims.filter((x) => x.name !== 'st'));
  const kk = (n) => v.key(n);
  const vv = () => randBytes(v.vbs);
  const cases = [
    ['updateBatch keys [k, , k]', () => v.m.updateBatch([kk(1), , kk(2)], [vv(), vv(), vv()]), 1],
    ['updateBatch keys [ , k]', () => v.m.updateBatch([, kk(3)], [vv(), vv()]), 0],
    ['updateBatch values new Array(1)', () => v.m.updateBatch([kk(4)], new Array(1)), 0],
    ['updateBatch values [v, ,]', () => v.m.updateBatch([kk(4), kk(5)], [vv(), ,]), 1],
    ['deleteBatch [k, ,]', () => v.m.deleteBatch([kk(3), ,]), 1],
    ['deleteBatch [ , k]', () => v.m.deleteBatch([, kk(3)]), 0],
    ['updateBatch keys [k, undefined]', () => v.m.updateBatch([kk(1), undefined], [vv(), vv()]), 1],
  ];
  if (v.name === 'pc') {
    const one = () => randBytes(8);
    const sparse = new Array(NCPU);
    sparse[0] = one();
    cases.push(
      ['per-CPU update [v, ,]', () => v.m.update(kk(2), sparse), 1],
      ['per-CPU updateInt [1n, ,]', () => v.m.updateInt(2, Object.assign(new Array(NCPU), { 0: 1n })), 1],
      ['per-CPU updateBatch values [[v, ,]]', () => v.m.updateBatch([kk(2)], [sparse]), 1],
    );
  }
  const [label, op, holeAt] = pick(cases);
  let ok = false;
  try {
    op();
    ok = true;
  } catch (e) {
    if (judgeError(label, e) && !(e instanceof TypeError && e.message.includes(String(holeAt))))
      finding(
        'error-type',
        `${label} on ${v.name}: a hole must be a TypeError naming index ${holeAt}, got ${e.name}: ${e.message}`,
      );
  }
  if (ok) finding('accepted', `${label} on ${v.name}: accepted an array with a hole`);
  checkVictims(`${label} on ${v.name}`);
}

// ---- class: fd reuse ----
async function classFdReuse() {
  const v = pick(victims.filter((x) => x.name === 'hash' || x.name === 'arr' || x.name === 'pc'));
  const how = pick(['fromFd.close', 'fromFd.dispose', 'fs.closeSync', 'fromFd+gc']);
  const fd = v.m.fd;
  if (how === 'fromFd.close') BpfMap.fromFd(fd).close();
  else if (how === 'fromFd.dispose') BpfMap.fromFd(fd)[Symbol.dispose]();
  else if (how === 'fs.closeSync') closeSync(fd);
  else {
    (() => {
      BpfMap.fromFd(fd);
    })();
    for (let i = 0; i < 3; i++) {
      globalThis.gc?.();
      await new Promise((r) => setImmediate(r));
    }
  }
  // Maps of other sizes; the first takes the freed number if it is free.
  const decoys = [];
  for (const [ks, vs] of pick([
    [[4, 131072]],
    [[8, 16]],
    [[4, 8]],
    [
      [4, 131072],
      [8, 16],
    ],
  ])) {
    const d = BpfMap.create({ type: MapType.Hash, keySize: ks, valueSize: vs, maxEntries: 4 });
    const k = new Uint8Array(ks);
    d.update(k, new Uint8Array(vs).fill(0x5a));
    decoys.push({ d, obs: BpfMap.fromId(d.id), want: new Map([[hex(k), '5a'.repeat(vs)]]) });
  }
  const reused = decoys.some((x) => x.d.fd === fd);
  const k = v.key(int(6));
  const val = randBytes(v.vbs);
  const ops = [
    ['lookup', () => v.m.lookup(k), null],
    ['update', () => v.m.update(k, val), (m) => m.set(hex(k), hex(val))],
    ['update(flags)', () => v.m.update(k, val, { flags: 0 }), (m) => m.set(hex(k), hex(val))],
    ['delete', () => v.m.delete(k), (m) => m.delete(hex(k))],
    ['lookupAndDelete', () => v.m.lookupAndDelete(k), (m) => m.delete(hex(k))],
    ['lookupInt', () => v.m.lookupInt(1), null],
    // updateInt writes the integer to every CPU of a per-CPU map: a write there too.
    ['updateInt', () => v.m.updateInt(1, 9), (m) => m.set(hex(v.key(1)), '0900000000000000'.repeat(v.vbs / 8))],
    ['getNextKey', () => v.m.getNextKey(k), null],
    ['entries', () => [...v.m.entries()], null],
    ['bpfMapUpdateElem', () => lib.bpfMapUpdateElem(v.m, k, val), (m) => m.set(hex(k), hex(val))],
  ];
  const [name, op, eff] = pick(ops);
  const label = `${name} after ${how}${reused ? ' (number reused)' : ''} on ${v.name}`;
  const before = modelValue(v, k);
  // fs.closeSync closed a library-owned fd behind the library's back: the library cannot know the
  // number now names another map (it would take a syscall per operation to ask), so the call may
  // reach that map, as in C. What must hold there: no crash, no EFAULT turned into a crash, no
  // write past a JS buffer, and nothing but the caller's own bytes in any map. The library paths
  // (fromFd().close(), dispose, GC) stay strict: there the number never names another map.
  const foreign = how === 'fs.closeSync' && reused;
  const mineKeys = [hex(k), hex(v.key(1))];
  const mineValues = [hex(val), '0900000000000000'.repeat(v.vbs / 8)];
  // The caller's bytes cut to the foreign map's size; past the caller's size the kernel reads on
  // in the call block, which holds only zeros and what this input's earlier calls staged (0x5a).
  const fits = (h, mine) =>
    mine.some((m) => h.startsWith(m.slice(0, Math.min(h.length, m.length))) && /^(00|5a)*$/.test(h.slice(m.length)));
  foreignFd = foreign;
  try {
    judgeOp(label, v, op, {
      effect: eff ?? undefined,
      result: (r) => {
        if (name !== 'lookup' || r === undefined || flatResult(r) === before) return;
        // On the foreign map a lookup returns what that map holds, past its value size what the
        // call block held (earlier calls' bytes, never heap): a result of the victim's size is all
        // that can be asked.
        if (foreign) {
          if (flatResult(r).length !== v.vbs * 2) finding('wrong-result', `${label}: returned ${flatResult(r).length / 2} bytes`);
        } else finding('wrong-result', `${label}: returned bytes of another map: ${flatResult(r)}`);
      },
    });
  } finally {
    foreignFd = false;
  }
  for (const { d, obs, want } of decoys) {
    const got = new Map();
    for (const c of obs.lookupBatch())
      for (let i = 0; i < c.count; i++)
        got.set(
          hex(c.keys.subarray(i * d.keySize, (i + 1) * d.keySize)),
          hex(c.values.subarray(i * d.valueSize, (i + 1) * d.valueSize)),
        );
    let n = diffBytes(want, got, d.keySize + d.valueSize);
    if (n && foreign && d.fd === fd) {
      // Allowed on the map that took the number: the caller's key deleted, or an element whose key
      // and value are the caller's bytes (cut to that map's sizes, zero past them).
      n = 0;
      for (const [key, val2] of got)
        if (want.get(key) !== val2 && !(fits(key, mineKeys) && fits(val2, mineValues))) n += d.keySize + d.valueSize;
      for (const key of want.keys()) if (!got.has(key) && !fits(key, mineKeys)) n += d.keySize + d.valueSize;
    }
    if (n) finding('bytes', `${label}: ${n} bytes of another map written`, { bytes: n });
    obs.close();
    try {
      d.close();
    } catch {}
  }
  // The victim's own fd may be gone: start it afresh (its observer holds the kernel map).
  try {
    v.m.close();
  } catch {}
  v.obs.close();
  v.open();
}

// ---- class: a second copy of the package ----
let libB;
async function setupCopy() {
  const dir = join(tmpdir(), `bpfmap-fuzz-copy-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  // The copy's addon is a hard link of the one copy A loaded (the ASan build under BPFMAP_ADDON).
  const addonB = join(dir, 'build', 'Release', 'bpfmap.node');
  linkSync(process.env.BPFMAP_ADDON || join(root, 'build', 'Release', 'bpfmap.node'), addonB);
  const saved = process.env.BPFMAP_ADDON;
  if (saved) process.env.BPFMAP_ADDON = addonB;
  libB = await import(pathToFileURL(join(dir, 'dist', 'index.js')).href);
  if (saved) process.env.BPFMAP_ADDON = saved;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  if (libB.BpfMap === BpfMap) throw new Error('the copy is the same module');
  const mk = (L, name, ks, vs) => {
    const vic = Object.create(Victim.prototype);
    vic.name = name;
    vic.opts = { type: MapType.Hash, keySize: ks, valueSize: vs, maxEntries: 64 };
    vic.open = function () {
      this.m = L.BpfMap.create({ ...this.opts, name: `fzh_${name}` });
      this.obs = BpfMap.fromId(this.m.id);
      this.ks = ks;
      this.vbs = vs;
      this.isArray = false;
      for (let k = 0; k < 6; k++) this.obs.update(this.key(k), randBytes(vs));
      this.model = this.snap();
    };
    vic.open();
    return vic;
  };
  victims.push(mk(libB, 'B4', 4, 8), mk(libB, 'B8', 8, 32));
}
function classCopies() {
  const steps = 2 + int(6);
  for (let s = 0; s < steps; s++) {
    const v = pick(victims);
    const k = v.key(int(10));
    const val = randBytes(v.vbs);
    const before = modelValue(v, k);
    const [name, op, eff] = pick([
      ['update', () => v.m.update(k, val), (m) => m.set(hex(k), hex(val))],
      ['delete', () => v.m.delete(k), (m) => m.delete(hex(k))],
      ['lookupAndDelete', () => v.m.lookupAndDelete(k), (m) => m.delete(hex(k))],
      ['lookup', () => v.m.lookup(k), null],
      ['getNextKey', () => v.m.getNextKey(k), null],
      ['update(flags)', () => v.m.update(k, val, { flags: 0 }), (m) => m.set(hex(k), hex(val))],
      ...(libB ? [['copy B function on a copy A map', () => libB.bpfMapLookupElem(v.m, k, new Uint8Array(v.vbs)), null]] : []),
    ]);
    const label = `${name} on ${v.name} (step ${s})`;
    judgeOp(label, v, op, {
      effect: eff ?? undefined,
      result: (r) => {
        if ((name === 'lookup' || name === 'lookupAndDelete') && flatResult(r) !== before)
          finding('wrong-result', `${label}: returned ${flatResult(r)}, the key held ${before}`);
        if (name === 'delete' && r !== (before !== undefined))
          finding('wrong-result', `${label}: said ${r}, the key ${before ? 'was' : 'was not'} there`);
      },
    });
  }
}

// ---- class: hostile BTF ----
function btfBlob() {
  const strs = ['', 'a', 'b', '__proto__', 'constructor', 'int', 's', 'hasOwnProperty'];
  const strTab = Buffer.from(`${strs.join('\0')}\0`);
  const nameOff = (i) => strTab.indexOf(Buffer.from(`${strs[i]}\0`), i === 0 ? 0 : 1);
  const name = () => (rnd() < 0.1 ? 100000 : nameOff(int(strs.length)));
  const n = 1 + int(5);
  const ref = () => pick([0, 1, 2, int(n + 3), int(n) + 1]);
  const size = () => pick([0, 1, 4, 8, 16, 2 ** 31, 2 ** 32 - 1, int(64)]);
  const words = [];
  for (let t = 1; t <= n; t++) {
    const kind = 1 + int(19);
    const vlen = [4, 5, 6, 13, 15, 19].includes(kind) ? int(4) : 0;
    const w = [name(), ((kind & 0x1f) << 24) | vlen | (rnd() < 0.1 ? 0x80000000 : 0), 0];
    switch (kind) {
      case 1:
        w[2] = pick([1, 2, 4, 8, 16, 0, 3]);
        w.push(pick([0, 1, 8, 32, 64, 128, 255]) | (pick([0, 1, 2, 4]) << 24) | (pick([0, 0, 3]) << 16));
        break;
      case 3:
        w.push(ref(), ref(), pick([0, 1, 2, 4, 2 ** 20, 2 ** 32 - 1]));
        break;
      case 4:
      case 5:
        w[2] = size();
        for (let m = 0; m < vlen; m++) w.push(name(), ref(), pick([0, 32, 64, 8 * int(16), 2 ** 32 - 1]));
        break;
      case 6:
        w[2] = pick([1, 2, 4, 8, 3]);
        for (let m = 0; m < vlen; m++) w.push(name(), int(5));
        break;
      case 19:
        w[2] = 8;
        for (let m = 0; m < vlen; m++) w.push(name(), int(5), 0);
        break;
      case 13:
        w[2] = ref();
        for (let m = 0; m < vlen; m++) w.push(name(), ref());
        break;
      case 14:
        w[2] = ref();
        w.push(1);
        break;
      case 15:
        w[2] = size();
        for (let m = 0; m < vlen; m++) w.push(ref(), int(64), size());
        break;
      case 16:
        w[2] = pick([4, 8, 3]);
        break;
      case 17:
        w[2] = ref();
        w.push(pick([-1, 0, 1, 100]) >>> 0);
        break;
      default:
        w[2] = ref(); // ptr, typedef, modifiers, fwd, func, type tag: a reference (self and cycles included)
    }
    words.push(...w);
  }
  const types = Buffer.alloc(words.length * 4);
  words.forEach((x, i) => types.writeUInt32LE(x >>> 0, i * 4));
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr[2] = 1;
  hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8);
  hdr.writeUInt32LE(types.length, 12);
  hdr.writeUInt32LE(types.length, 16);
  hdr.writeUInt32LE(strTab.length, 20);
  let blob = Buffer.concat([hdr, types, strTab]);
  const mut = int(8);
  if (mut === 0) blob = blob.subarray(0, int(blob.length));
  else if (mut === 1) blob.writeUInt32LE(pick([2 ** 32 - 1, types.length + 4, 1]), pick([12, 16, 20]));
  return { blob: new Uint8Array(blob), n };
}
function classBtf() {
  const { blob, n } = btfBlob();
  const t0 = performance.now();
  let types;
  try {
    types = lib.parseBtf(blob);
  } catch (e) {
    if (!(e instanceof lib.BtfParseError)) judgeError('parseBtf', e);
    return;
  }
  const spec = new lib.BtfSpec(types);
  for (let id = 1; id <= Math.min(n, types.length); id++) {
    try {
      spec.cName(id);
      const c = spec.codec(id);
      if (c.size > 0 && c.size <= 4096) {
        const zeros = new Uint8Array(c.size);
        const rec = c.decode(zeros);
        const again = c.encode(rec);
        if (hex(again) !== hex(zeros))
          finding('roundtrip', `BTF type ${id} (${spec.cName(id)}): encode(decode(zeros)) is ${hex(again)}, blob ${hex(blob)}`);
      }
    } catch (e) {
      if (!(e instanceof lib.BtfCodecError)) judgeError(`codec(${id})`, e);
    }
    if (performance.now() - t0 > 1000) return finding('slow', `BTF of ${n} types took over 1 s`);
  }
}

// ---- class: CLI ----
let main;
async function classCli() {
  const v = victims[0]; // hash 4/8
  const id = String(v.m.id);
  const width = 4;
  const ints = [
    '1',
    '3',
    '0x2',
    '-1',
    '-4294967295',
    '4294967296',
    '18446744073709551615',
    '-18446744073709551614',
    '-2147483649',
    '1e3',
    '',
    ' 2',
    '+1',
    '0b11',
    '0o7',
    '1_0',
    '99999999999999999999999999',
    '0x',
  ];
  const kind = int(3);
  let argv;
  let expectUsage = false;
  const expectKeys = new Set();
  const inRange = (s, w) => {
    if (!/^-?(0x[0-9a-f]+|[0-9]+)$/i.test(s)) return undefined;
    const neg = s.startsWith('-');
    let b = BigInt(neg ? s.slice(1) : s);
    if (neg) b = -b;
    if (b < -(1n << BigInt(w * 8 - 1)) || b >= 1n << BigInt(w * 8)) return undefined;
    return BigInt.asUintN(w * 8, b);
  };
  if (kind === 0) {
    const verb = pick(['delete', 'update', 'lookup']);
    const ks = pick(ints);
    argv = [verb, 'id', id, '--key-int', ks];
    const kv = inRange(ks, width);
    let vs;
    if (verb === 'update') argv.push('--value-int', (vs = pick(ints)));
    const vv = vs === undefined ? 0n : inRange(vs, 8);
    if (kv === undefined || vv === undefined) expectUsage = true;
    else expectKeys.add(hex(lib.encodeIntKey(kv, 4)));
  } else if (kind === 1) {
    const dup = pick([
      ['update', 'id', id, '--key-int', '1', '--key-int', '2', '--value-int', '5'],
      [
        'update',
        'id',
        id,
        'key',
        '0x01',
        '0x00',
        '0x00',
        '0x00',
        'value',
        ...Array(8).fill('0x01'),
        'key',
        '0x02',
        '0x00',
        '0x00',
        '0x00',
      ],
      ['update', 'id', id, '--key-int', '1', '--value-int', '5', 'any', 'noexist'],
      ['delete', 'id', id, '--key-int', '1', '--key-int', '2'],
      ['lookup', 'id', id, 'id', String(victims[1].m.id), '--key-int', '1'],
    ]);
    argv = dup;
    expectUsage = true;
  } else {
    argv = pick([['list'], ['show', 'id', id], ['dump', 'id', id]]);
  }
  const outText = [];
  const io = { out: (s) => outText.push(String(s)) };
  const sw = process.stdout.write;
  const ew = process.stderr.write;
  process.stdout.write = (s) => (outText.push(String(s)), true);
  process.stderr.write = (s) => (outText.push(String(s)), true);
  let code;
  try {
    code = await main(argv, io);
  } catch (e) {
    code = `exception ${e?.stack}`;
  } finally {
    process.stdout.write = sw;
    process.stderr.write = ew;
  }
  const label = `bpfmap ${argv.map((a) => JSON.stringify(a)).join(' ')}`;
  if (![0, 1, 2].includes(code)) finding('bad-exit', `${label}: ${code}`);
  if (expectUsage && code === 0) finding('accepted', `${label}: exit 0, expected a usage error (2)`);
  else if (expectUsage && code !== 2) finding('exit-code', `${label}: exit ${code}, expected a usage error (2)`);
  const text = outText.join('');
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(text)) finding('control-chars', `${label}: raw control characters in the output`);
  // Changes only to the key the command names.
  const got = v.snap();
  for (const [k, val] of got)
    if (v.model.get(k) !== val && !expectKeys.has(k)) finding('bytes', `${label}: changed key ${k}`, { bytes: 12 });
  for (const k of v.model.keys())
    if (!got.has(k) && !expectKeys.has(k)) finding('bytes', `${label}: deleted key ${k}`, { bytes: 12 });
  v.model = got;
}
/** Pins whose names carry terminal control sequences, for `list` (inside a private bpffs when root allows). */
function hostilePins() {
  const dir = `/sys/fs/bpf/bpfmap-fuzz-${process.pid}`;
  try {
    mkdirSync(dir);
  } catch {
    return;
  }
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  victims[0].obs.pin(`${dir}/x\x1b]0;pwned\x07\x1b[2J`);
  victims[1].obs.pin(`${dir}/line\nbreak`);
}

// ---- the run ----
const CLASSES = {
  buffers: classBuffers,
  getters: classGetters,
  holes: classHoles,
  fdreuse: classFdReuse,
  copies: classCopies,
  btf: classBtf,
  cli: classCli,
};
if (!CLASSES[CLS]) throw new Error(`unknown class ${CLS}; one of ${Object.keys(CLASSES).join(', ')}`);
if (CLS !== 'btf') mkVictims();
if (CLS === 'copies' && !process.env.BPFMAP_FUZZ_NO_COPY) await setupCopy();
if (CLS === 'cli') {
  ({ main } = await import(new URL('../../dist/cli/main.js', import.meta.url).href));
  hostilePins();
  for (const w of [['list'], ['show', 'id', String(victims[0].m.id)], ['dump', 'id', String(victims[0].m.id)]])
    await main(w, { out: () => {} }); // warm-up: what the CLI opens once and keeps is not a leak
}
let seedMix = 0;
for (const c of CLS) seedMix = (Math.imul(seedMix, 31) + c.charCodeAt(0)) | 0;
for (let i = START; i < START + COUNT; i++) {
  cur = i;

  rnd = prng(Math.imul(SEED ^ seedMix, 2654435761) + i * 40503);
  emit(`S ${i}`);
  const fds = fdCount();
  try {
    await CLASSES[CLS]();
  } catch (e) {
    finding('harness', `input ${i} threw out of the harness: ${e?.stack ?? e}`);
    for (const v of victims) {
      try {
        v.reopen();
      } catch {}
    }
  }
  const leaked = fdCount() - fds;
  if (leaked > 0) finding('fds', `input ${i} left ${leaked} fds open`, { fds: leaked });
}
for (const v of victims) v.close();
emit(`D ${JSON.stringify({ class: CLS, asan: /libasan/.test(readFileSync('/proc/self/maps', 'utf8')) })}`);
