/**
 * A metric compiled against its map: readers for its labels and value at fixed offsets, checked
 * against the map's BTF (unknown fields and decoders that do not fit are problems named here), and
 * an accumulator fed one entry at a time during the map's one walk per scrape.
 */
import { type BucketConfig, type LabelConfig, type MetricConfig, DECODERS } from './config.js';
import { bucketBounds, cumulate } from './buckets.js';
import { type LabelReader, labelReader } from './decoders.js';
import {
  type FieldInfo,
  type MapLayout,
  type NumberReader,
  type SideLayout,
  findField,
  numberReader,
  wholeSide,
} from './layout.js';

/** One sample as prom-client's exposition takes it. */
export interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What a metric needs to know about its map. */
export interface MapShapeInfo {
  layout: MapLayout;
  isPerCpu: boolean;
  /** Bytes per CPU in a per-CPU value (the value size rounded up to 8). */
  cpuStride: number;
  /** Possible CPUs (per-CPU maps). */
  cpus: number;
  /** Bytes per value in a batch (per-CPU: cpuStride × cpus). */
  valueStride: number;
}

/** Feeds on one map's entries during a walk. */
export interface Consumer {
  begin(): void;
  /** After the walk. */
  end?(): void;
  entry(keys: Uint8Array, kv: DataView, ko: number, values: Uint8Array, vv: DataView, vo: number): void;
}

/** The labels part shared by every kind of metric: readers, and a key string per label set. */
class LabelSet {
  readonly names: string[];
  readonly readers: LabelReader[];
  constructor(names: string[], readers: LabelReader[]) {
    this.names = names;
    this.readers = readers;
  }
  /** Decoded label values of one entry. */
  read(keys: Uint8Array, kv: DataView, ko: number, out: string[]): string {
    let id = '';
    for (let i = 0; i < this.readers.length; i++) {
      const s = (this.readers[i] as LabelReader)(keys, kv, ko);
      out[i] = s;
      id = i === 0 ? s : `${id}\u0000${s}`;
    }
    return id;
  }
  record(values: readonly string[], extra?: Record<string, string>): Record<string, string> {
    const r: Record<string, string> = {};
    for (let i = 0; i < this.names.length; i++) r[this.names[i] as string] = values[i] as string;
    return extra ? Object.assign(r, extra) : r;
  }
}

function compileLabels(labels: readonly LabelConfig[], key: SideLayout, problems: string[], skip?: string): LabelSet {
  const names: string[] = [];
  const readers: LabelReader[] = [];
  for (const l of labels) {
    const f = l.field === undefined ? wholeSide(key) : findField(key, l.field);
    if (typeof f === 'string') {
      problems.push(`label ${JSON.stringify(l.name)}: ${f}`);
      continue;
    }
    if (skip !== undefined && l.field === skip)
      problems.push(`label ${JSON.stringify(l.name)}: ${skip} is the bucket slot field`);
    const decoder = l.decoder ?? 'uint';
    if (!DECODERS.includes(decoder)) continue;
    const r = labelReader(decoder, f);
    if (typeof r === 'string') problems.push(`label ${JSON.stringify(l.name)}: ${r}`);
    else {
      names.push(l.name);
      readers.push(r);
    }
  }
  return new LabelSet(names, readers);
}

function valueField(side: SideLayout, path: string | undefined): FieldInfo | string {
  return path === undefined ? wholeSide(side) : findField(side, path);
}

function numberOf(f: FieldInfo | string, what: string, problems: string[]): NumberReader | undefined {
  if (typeof f === 'string') {
    problems.push(`${what}: ${f}`);
    return undefined;
  }
  const r = numberReader(f);
  if (!r) problems.push(`${what}: ${f.path} is ${f.cType}, not a number (name an integer field with value:)`);
  return r;
}

/** No labels: the `labels` of samples whose labels travel as `sharedLabels` (see `Series`). */
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * A label set's sample, kept from scrape to scrape (same objects, so a scrape allocates little),
 * in the form prom-client's text exposition takes fastest: no `labels`, the label set as
 * `sharedLabels`, which prom-client formats and escapes once and caches by object, so a series seen
 * at every scrape costs no label formatting after the first. The walk sets `value` in place, so the
 * text exposition gets the walk's own list (JSON gets `{ labels, value }` copies).
 */
interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly sharedLabels: Record<string, string>;
  value: number;
  /** The walk that last set it. */
  gen: number;
}

/** A key seen before: its bytes (to tell hash collisions apart) and its series. */
interface KnownKey {
  /** Where its bytes are in the consumer's slab. */
  at: number;
  cpu: number;
  series: Series;
  next: KnownKey | undefined;
}

/** Decoders whose names can change while the exporter runs (interfaces, modules' symbols, cgroups). */
const RECHECK_MS = 60_000;

/**
 * A counter or gauge: one sample per label set (entries with the same labels are added). Keys seen
 * at an earlier scrape are found by a hash of their bytes, so their labels are not decoded again
 * (labels from ifname/ksym/cgroup are decoded afresh every RECHECK_MS).
 */
export class ScalarConsumer implements Consumer {
  readonly labels: LabelSet;
  readonly #value: NumberReader;
  readonly #shape: MapShapeInfo;
  readonly #cpuLabel: boolean;
  readonly #keySize: number;
  readonly #volatile: boolean;
  /** Hash of the key bytes (and cpu) → the keys with that hash. */
  #byKey = new Map<number, KnownKey>();
  #known = 0;
  /** The known keys' bytes, back to back (one allocation, not one per key). */
  #slab = new Uint8Array(0);
  /** Label values (joined) → series. */
  #byId = new Map<string, Series>();
  #live: Series[] = [];
  /**
   * The key met at each position of the last walk: an unchanged hash map is walked in the same
   * order at every scrape, so a key is first compared with the one at its position last time (one
   * compare of its bytes, no hash and no Map lookup).
   */
  #prev: (KnownKey | undefined)[] = [];
  /** Position in the current walk (one per `#series` call). */
  #pos = 0;
  #slabView = new DataView(new ArrayBuffer(0));
  #gen = 0;
  #recheckAt = 0;
  readonly #scratch: string[] = [];

  constructor(labels: LabelSet, value: NumberReader, shape: MapShapeInfo, cpuLabel: boolean, volatile: boolean) {
    this.labels = labels;
    this.#value = value;
    this.#shape = shape;
    this.#cpuLabel = cpuLabel;
    this.#keySize = shape.layout.key.size;
    this.#volatile = volatile;
  }

  begin(): void {
    this.#gen++;
    this.#live = [];
    this.#pos = 0;
    if (this.#volatile && performance.now() >= this.#recheckAt) {
      this.#recheckAt = performance.now() + RECHECK_MS;
      this.#forgetAll();
    }
  }

  #forgetAll(): void {
    this.#byKey = new Map();
    this.#byId = new Map();
    this.#known = 0;
    this.#slab = new Uint8Array(0);
    this.#slabView = new DataView(this.#slab.buffer);
    this.#prev = [];
  }

  end(): void {
    if (this.#prev.length > this.#pos) this.#prev.length = this.#pos;
    // Keys that are gone are forgotten once they outnumber the live ones: memory follows the map.
    if (this.#known <= 2 * this.#live.length + 1024) return;
    const live = this.#live;
    this.#forgetAll();
    for (const s of live) this.#byId.set(this.#idOf(s), s);
  }

  #idOf(s: Series): string {
    return Object.values(s.sharedLabels).join('\u0000');
  }

  #hash(kv: DataView, ko: number, cpu: number): number {
    const n = this.#keySize;
    let h = 0x811c9dc5 ^ cpu;
    let i = 0;
    for (; i + 4 <= n; i += 4) h = Math.imul(h ^ kv.getUint32(ko + i, true), 0x01000193);
    for (; i < n; i++) h = Math.imul(h ^ kv.getUint8(ko + i), 0x01000193);
    return (h ^ (h >>> 15)) & 0x3fffffff; // a small integer: the fastest Map key
  }

  /** Whether the key bytes at `ko` are those of `k`. */
  #same(k: KnownKey, keys: Uint8Array, kv: DataView, ko: number): boolean {
    const n = this.#keySize;
    const sv = this.#slabView;
    const at = k.at;
    let i = 0;
    for (; i + 4 <= n; i += 4) if (sv.getUint32(at + i, true) !== kv.getUint32(ko + i, true)) return false;
    for (; i < n; i++) if (this.#slab[at + i] !== keys[ko + i]) return false;
    return true;
  }

  #series(keys: Uint8Array, kv: DataView, ko: number, cpu: number): Series {
    const pos = this.#pos++;
    const p = this.#prev[pos];
    if (p !== undefined && p.cpu === cpu && this.#same(p, keys, kv, ko)) return p.series;
    const k = this.#lookup(keys, kv, ko, cpu);
    if (pos < this.#prev.length) this.#prev[pos] = k;
    else this.#prev.push(k);
    return k.series;
  }

  /** The known key with these bytes (and cpu), added (its labels decoded) when new. */
  #lookup(keys: Uint8Array, kv: DataView, ko: number, cpu: number): KnownKey {
    const h = this.#hash(kv, ko, cpu);
    const n = this.#keySize;
    const head = this.#byKey.get(h);
    for (let k = head; k !== undefined; k = k.next) if (k.cpu === cpu && this.#same(k, keys, kv, ko)) return k;
    const cpuText = this.#cpuLabel ? String(cpu) : undefined;
    let id = this.labels.read(keys, kv, ko, this.#scratch);
    if (cpuText !== undefined) id = `${id}\u0000${cpuText}`;
    let s = this.#byId.get(id);
    if (s === undefined) {
      const labels = this.labels.record(this.#scratch, cpuText === undefined ? undefined : { cpu: cpuText });
      s = { labels: NO_LABELS, sharedLabels: labels, value: 0, gen: 0 };
      this.#byId.set(id, s);
    }
    const at = this.#known * n;
    if (at + n > this.#slab.length) {
      const grown = new Uint8Array(Math.max(4096, this.#slab.length * 2, at + n));
      grown.set(this.#slab);
      this.#slab = grown;
      this.#slabView = new DataView(grown.buffer);
    }
    this.#slab.set(keys.subarray(ko, ko + n), at);
    const k: KnownKey = { at, cpu, series: s, next: head };
    this.#byKey.set(h, k);
    this.#known++;
    return k;
  }

  #add(s: Series, value: number): void {
    if (s.gen === this.#gen) {
      s.value += value;
      return;
    }
    s.gen = this.#gen;
    s.value = value;
    this.#live.push(s);
  }

  entry(keys: Uint8Array, kv: DataView, ko: number, _values: Uint8Array, vv: DataView, vo: number): void {
    const sh = this.#shape;
    if (!sh.isPerCpu) {
      this.#add(this.#series(keys, kv, ko, 0), this.#value(vv, vo));
      return;
    }
    if (this.#cpuLabel) {
      for (let c = 0; c < sh.cpus; c++) this.#add(this.#series(keys, kv, ko, c), this.#value(vv, vo + c * sh.cpuStride));
      return;
    }
    let sum = 0;
    for (let c = 0; c < sh.cpus; c++) sum += this.#value(vv, vo + c * sh.cpuStride);
    this.#add(this.#series(keys, kv, ko, 0), sum);
  }

  /** The samples of the last walk, each a new `{ labels, value }` (for `get()` and JSON). */
  samples(): Sample[] {
    return this.#live.map((s) => ({ labels: s.sharedLabels, value: s.value }));
  }

  /**
   * The samples of the last walk for prom-client's text exposition: the walk's own list of series
   * (see `Series`), valid until the next walk.
   */
  promSamples(): Sample[] {
    return this.#live as unknown as Sample[];
  }

  /** Label-set id → value, for a histogram's `_sum` kept in another map. */
  byId(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, s] of this.#byId) if (s.gen === this.#gen) out.set(id, s.value);
    return out;
  }
}

interface HistState {
  labels: Record<string, string>;
  counts: Float64Array;
  sum: number;
}

/** A histogram: per label set, slot counts from a key field or an array value. */
export class HistogramConsumer implements Consumer {
  readonly labels: LabelSet;
  readonly bounds: number[];
  readonly #name: string;
  readonly #shape: MapShapeInfo;
  /** Slot in the key: its reader; undefined for an array of slots. */
  readonly #slotOf: NumberReader | undefined;
  /** Slot in the key: the count reader; an array: element reader at slot offsets. */
  readonly #count: NumberReader;
  readonly #slots: number;
  readonly #elemSize: number;
  readonly #sumField: NumberReader | undefined;
  readonly #sumSlot: number | undefined;
  readonly #mult: number;
  #states = new Map<string, HistState>();
  readonly #scratch: string[] = [];
  /** `_sum` from another map: set before `samples()`. */
  sumById: Map<string, number> | undefined;
  readonly sumFromMap: boolean;

  constructor(o: {
    name: string;
    labels: LabelSet;
    shape: MapShapeInfo;
    bucket: BucketConfig;
    slotOf: NumberReader | undefined;
    count: NumberReader;
    slots: number | undefined;
    elemSize: number;
    sumField: NumberReader | undefined;
    sumSlot: number | undefined;
    sumFromMap: boolean;
  }) {
    this.#name = o.name;
    this.labels = o.labels;
    this.#shape = o.shape;
    this.#slotOf = o.slotOf;
    this.#count = o.count;
    this.#slots = o.slots ?? 0;
    this.#elemSize = o.elemSize;
    this.#sumField = o.sumField;
    this.#sumSlot = o.sumSlot;
    this.#mult = o.bucket.multiplier ?? 1;
    this.bounds = bucketBounds(o.bucket, o.slots);
    this.sumFromMap = o.sumFromMap;
  }

  begin(): void {
    this.#states = new Map();
  }

  #state(id: string): HistState {
    let s = this.#states.get(id);
    if (s === undefined) {
      s = { labels: this.labels.record(this.#scratch), counts: new Float64Array(this.bounds.length + 1), sum: 0 };
      this.#states.set(id, s);
    }
    return s;
  }

  #addSlot(st: HistState, slot: number, n: number): void {
    if (slot === this.#sumSlot) {
      st.sum += n;
      return;
    }
    const last = this.bounds.length;
    const i = slot >= 0 && slot < last && Number.isInteger(slot) ? slot : last;
    st.counts[i] = (st.counts[i] as number) + n;
  }

  entry(keys: Uint8Array, kv: DataView, ko: number, _values: Uint8Array, vv: DataView, vo: number): void {
    const st = this.#state(this.labels.read(keys, kv, ko, this.#scratch));
    const cpus = this.#shape.isPerCpu ? this.#shape.cpus : 1;
    const stride = this.#shape.cpuStride;
    for (let c = 0; c < cpus; c++) {
      const base = vo + c * stride;
      if (this.#slotOf) this.#addSlot(st, this.#slotOf(kv, ko), this.#count(vv, base));
      else for (let i = 0; i < this.#slots; i++) this.#addSlot(st, i, this.#count(vv, base + i * this.#elemSize));
      if (this.#sumField) st.sum += this.#sumField(vv, base);
    }
  }

  /** `_bucket` (cumulative, every bound and +Inf), `_sum` when configured, `_count`. */
  samples(): Sample[] {
    const out: Sample[] = [];
    const hasSum = this.#sumField !== undefined || this.#sumSlot !== undefined || this.sumFromMap;
    const bucket = `${this.#name}_bucket`;
    for (const [id, st] of this.#states) {
      const total = cumulate(st.counts, this.bounds.length);
      for (let i = 0; i < this.bounds.length; i++)
        out.push({ metricName: bucket, labels: { ...st.labels, le: this.bounds[i] as number }, value: st.counts[i] as number });
      out.push({ metricName: bucket, labels: { ...st.labels, le: '+Inf' }, value: total });
      if (hasSum) {
        const raw = this.sumFromMap ? (this.sumById?.get(id) ?? 0) : st.sum;
        out.push({ metricName: `${this.#name}_sum`, labels: st.labels, value: raw * this.#mult });
      }
      out.push({ metricName: `${this.#name}_count`, labels: st.labels, value: total });
    }
    return out;
  }
}

/**
 * Compiles `m` against its map.
 * @returns the consumer, or the problems found (each without the metric name, which the caller adds).
 */
export function compileMetric(m: MetricConfig, shape: MapShapeInfo): ScalarConsumer | HistogramConsumer | string[] {
  const problems: string[] = [];
  const { key, value } = shape.layout;
  if (m.perCpu === 'label' && !shape.isPerCpu) problems.push('perCpu: label needs a per-CPU map');
  if (m.type !== 'histogram') {
    const labels = compileLabels(m.labels ?? [], key, problems);
    const v = numberOf(valueField(value, m.value), 'value', problems);
    if (problems.length || !v) return problems;
    return new ScalarConsumer(labels, v, shape, m.perCpu === 'label', isVolatile(m));
  }
  const b = m.bucket as BucketConfig;
  const labels = compileLabels(m.labels ?? [], key, problems, b.field);
  let slotOf: NumberReader | undefined;
  let count: NumberReader | undefined;
  let slots: number | undefined;
  let elemSize = 0;
  if (b.field !== undefined) {
    slotOf = numberOf(findField(key, b.field), 'bucket.field', problems);
    count = numberOf(valueField(value, m.value), 'value', problems);
  } else {
    const f = valueField(value, m.value);
    if (typeof f === 'string') problems.push(`value: ${f}`);
    else if (f.kind === 'array' && f.element && numberReader(f.element)) {
      const el = f.element;
      count = numberReader({ ...el, offset: f.offset });
      slots = f.length;
      elemSize = el.size;
    } else if (f.kind === 'bytes' && !value.codec && f.size % 8 === 0) {
      // No BTF: the value is taken as u64 slots.
      count = numberReader({ path: f.path, offset: f.offset, size: 8, kind: 'uint', cType: 'u64' });
      slots = f.size / 8;
      elemSize = 8;
    } else
      problems.push(
        `bucket: without bucket.field the ${m.value ? `value field ${m.value}` : 'value'} must be an array of integer slots; it is ${f.cType} (or give bucket.field: the key field holding the slot)`,
      );
  }
  let sumField: NumberReader | undefined;
  const s = m.sum;
  if (s?.field !== undefined) sumField = numberOf(findField(value, s.field), 'sum.field', problems);
  if (s?.slot !== undefined && slots !== undefined && s.slot >= slots)
    problems.push(`sum.slot ${s.slot} is past the value's ${slots} slots`);
  if (problems.length || !count) return problems;
  return new HistogramConsumer({
    name: m.name,
    labels,
    shape,
    bucket: b,
    slotOf,
    count,
    slots,
    elemSize,
    sumField,
    sumSlot: s?.slot,
    sumFromMap: s?.map !== undefined,
  });
}

/** The consumer of a histogram's `_sum` map: the histogram's labels (without the slot) and the sum value. */
export function compileSumMap(m: MetricConfig, shape: MapShapeInfo): ScalarConsumer | string[] {
  const problems: string[] = [];
  const labels = compileLabels(
    (m.labels ?? []).filter((l) => l.field !== m.bucket?.field),
    shape.layout.key,
    problems,
  );
  const v = numberOf(valueField(shape.layout.value, m.sum?.value), 'sum.value', problems);
  if (problems.length || !v) return problems.map((p) => `sum.map ${m.sum?.map}: ${p}`);
  return new ScalarConsumer(labels, v, shape, false, isVolatile(m));
}

const VOLATILE = new Set(['ifname', 'ksym', 'cgroup']);
const isVolatile = (m: MetricConfig) => (m.labels ?? []).some((l) => VOLATILE.has(l.decoder ?? 'uint'));
