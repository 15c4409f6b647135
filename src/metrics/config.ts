/**
 * The metrics config (API.md §11): its TypeScript shape, and the checks that need no kernel
 * (keys, types, names, bucket specs). What needs the maps (fields, decoders that fit them) is
 * checked when the metrics are compiled against their maps (compile.ts).
 */

/** The label decoders: how a key field becomes a label value. */
export const DECODERS = ['uint', 'string', 'ipv4', 'ipv6', 'ksym', 'syscall', 'errno', 'ifname', 'cgroup'] as const;
/** One of `DECODERS`. */
export type DecoderName = (typeof DECODERS)[number];

/** A label taken from the map's key. */
export interface LabelConfig {
  /** The Prometheus label name. */
  name: string;
  /** The key field (BTF member name; `a.b` for a nested struct member); omitted: the whole key. */
  field?: string;
  /** How the field's bytes become the label value (default `uint`). */
  decoder?: DecoderName;
}

/** How a histogram's kernel-side slots map to Prometheus buckets. */
export interface BucketConfig {
  /**
   * `exp2`: bcc's log2 slots (slot 0 counts 0, slot 1 counts 1, slot i counts [2^(i-1), 2^i)): le = 2^i × multiplier.
   * `exp2zero`: slot 0 counts only 0 (le = 0), slot i ≥ 1 has le = 2^(i-1) × multiplier.
   * `linear`: slot i has le = (min + i × step) × multiplier, for the slots from min to max.
   */
  type: 'exp2' | 'exp2zero' | 'linear';
  /** The key field holding the slot; omitted: the value (or `value` field) is an array of slots. */
  field?: string;
  /** Scales bucket bounds and `_sum` (e.g. 0.000001 for microseconds counted, seconds exported). Default 1. */
  multiplier?: number;
  /** The highest slot exported (exp2/exp2zero; default: the array's last slot, or 63 for a key field). */
  maxSlot?: number;
  /** linear: the first bucket's bound. */
  min?: number;
  /** linear: the last bucket's bound. */
  max?: number;
  /** linear: the distance between bounds. */
  step?: number;
}

/** Where a histogram's `_sum` comes from (it is left out when not given). */
export interface SumConfig {
  /** A field of the same map's value. */
  field?: string;
  /** A slot of the histogram that holds the sum instead of a count (it is no bucket then). */
  slot?: number;
  /** Another map with the same label fields in its key; its value (or `value` field) is the sum. */
  map?: string;
  /** With `map`: the value field of that map (default the whole value). */
  value?: string;
}

/** One metric. */
export interface MetricConfig {
  /** The metric name (Prometheus rules: `[a-zA-Z_:][a-zA-Z0-9_:]*`). */
  name: string;
  /** Help text (default: where the metric comes from). */
  help?: string;
  type: 'counter' | 'gauge' | 'histogram';
  /** A map of the object by name, or `id:N`, `pinned:PATH`, `name:NAME`. */
  map: string;
  /** Labels from the key's fields, in order. */
  labels?: LabelConfig[];
  /** A value field (default the whole value; a histogram without `bucket.field`: the array of slots). */
  value?: string;
  /** Per-CPU maps: `sum` the CPUs' values (default) or `label` each with a `cpu` label. */
  perCpu?: 'sum' | 'label';
  /** Histograms: the bucket spec. */
  bucket?: BucketConfig;
  /** Histograms: where `_sum` is kept. */
  sum?: SumConfig;
}

/** The whole config: the shape of `bpfmap export --config FILE`, and of `registerMapMetrics`'s `config`. */
export interface MapMetricsConfig {
  /** A BPF object to load and attach (the CLI; the library takes a loaded object instead). */
  object?: string;
  /** The object's global variables to set before load. */
  variables?: Record<string, unknown>;
  metrics: MetricConfig[];
}

/** A config that cannot work: every problem found, one line each, naming the metric. */
export class MetricsConfigError extends Error {
  /** One message per problem. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.length === 1 ? (problems[0] as string) : `${problems.length} problems:\n${problems.join('\n')}`);
    this.name = 'MetricsConfigError';
    this.problems = problems;
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TOP_KEYS = new Set(['object', 'variables', 'metrics']);
const METRIC_KEYS = new Set(['name', 'help', 'type', 'map', 'labels', 'value', 'perCpu', 'bucket', 'sum']);
const LABEL_KEYS = new Set(['name', 'field', 'decoder']);
const BUCKET_KEYS = new Set(['type', 'field', 'multiplier', 'maxSlot', 'min', 'max', 'step']);
const SUM_KEYS = new Set(['field', 'slot', 'map', 'value']);
/** Label names the exporter itself sets. */
const RESERVED_LABELS = new Set(['le', 'cpu']);

const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? JSON.stringify(v) : String(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A map reference as written: an object map name, or one of `id:N`, `pinned:PATH`, `name:NAME`. */
export type MapRefSpec =
  | { by: 'object'; name: string }
  | { by: 'id'; id: number }
  | { by: 'pinned'; path: string }
  | { by: 'name'; name: string };

/** Parses a map reference; a string with problems gives the problem. */
export function parseMapRefSpec(ref: string): MapRefSpec | string {
  if (ref.startsWith('id:')) {
    const s = ref.slice(3);
    const id = Number(s);
    if (!/^\d+$/.test(s) || !(id > 0 && id <= 0xffff_ffff)) return `map ${show(ref)}: id:N needs a positive map id`;
    return { by: 'id', id };
  }
  if (ref.startsWith('pinned:')) {
    const path = ref.slice(7);
    if (path === '') return `map ${show(ref)}: pinned:PATH needs a path`;
    return { by: 'pinned', path };
  }
  if (ref.startsWith('name:')) {
    const name = ref.slice(5);
    if (name === '') return `map ${show(ref)}: name:NAME needs a map name`;
    return { by: 'name', name };
  }
  if (ref === '') return 'map is empty: give an object map name, id:N, pinned:PATH or name:NAME';
  return { by: 'object', name: ref };
}

/**
 * Checks the config's shape (everything that needs no kernel) and returns it, read once, as plain
 * data the caller cannot change afterwards.
 * @throws {MetricsConfigError} listing every problem, each naming its metric.
 */
export function checkConfig(input: unknown): MapMetricsConfig {
  const { config, problems } = readConfig(input);
  if (problems.length > 0) throw new MetricsConfigError(problems);
  return config;
}

/**
 * `checkConfig` without the throw: the config's metrics that passed (so the caller can go on to find
 * the problems only the maps show) and every problem found.
 * @throws {MetricsConfigError} only when there is no list of metrics to go on with.
 */
export function readConfig(input: unknown): { config: MapMetricsConfig; problems: string[] } {
  const problems: string[] = [];
  if (!isObject(input)) throw new MetricsConfigError([`config: expected an object with "metrics", got ${show(input)}`]);
  for (const k of Object.keys(input))
    if (!TOP_KEYS.has(k)) problems.push(`config: unknown key ${show(k)} (object, variables, metrics)`);
  const out: MapMetricsConfig = { metrics: [] };
  if (input.object !== undefined) {
    if (typeof input.object !== 'string' || input.object === '') problems.push('config: object must be a file path');
    else out.object = input.object;
  }
  if (input.variables !== undefined) {
    if (!isObject(input.variables)) problems.push('config: variables must be an object of name → value');
    else out.variables = { ...input.variables };
  }
  if (!Array.isArray(input.metrics) || input.metrics.length === 0) {
    problems.push('config: metrics must be a non-empty list');
    throw new MetricsConfigError(problems);
  }
  const names = new Set<string>();
  input.metrics.forEach((raw, i) => {
    const before = problems.length;
    const m = checkMetric(raw, i, problems);
    if (m === undefined) return;
    if (names.has(m.name)) problems.push(`metric ${show(m.name)}: the name is used twice`);
    names.add(m.name);
    if (problems.length === before) out.metrics.push(m);
  });
  return { config: out, problems };
}

function checkMetric(raw: unknown, i: number, problems: string[]): MetricConfig | undefined {
  if (!isObject(raw)) {
    problems.push(`metrics[${i}]: expected an object, got ${show(raw)}`);
    return undefined;
  }
  const name = typeof raw.name === 'string' ? raw.name : undefined;
  const where = name ? `metric ${show(name)}` : `metrics[${i}]`;
  const bad = (msg: string) => problems.push(`${where}: ${msg}`);
  for (const k of Object.keys(raw)) if (!METRIC_KEYS.has(k)) bad(`unknown key ${show(k)} (${[...METRIC_KEYS].join(', ')})`);
  if (name === undefined || !NAME.test(name)) bad(`name must match [a-zA-Z_:][a-zA-Z0-9_:]*, got ${show(raw.name)}`);
  if (name?.startsWith('bpfmap_map_') || name?.startsWith('bpfmap_scrape_'))
    bad("names bpfmap_map_* and bpfmap_scrape_* are the exporter's own");
  if (raw.help !== undefined && typeof raw.help !== 'string') bad('help must be a string');
  const type = raw.type;
  if (type !== 'counter' && type !== 'gauge' && type !== 'histogram')
    bad(`type must be counter, gauge or histogram, got ${show(type)}`);
  let mapProblem: string | undefined;
  if (typeof raw.map !== 'string') mapProblem = 'map must be a string: an object map name, id:N, pinned:PATH or name:NAME';
  else {
    const r = parseMapRefSpec(raw.map);
    if (typeof r === 'string') mapProblem = r;
  }
  if (mapProblem) bad(mapProblem);
  if (raw.value !== undefined && (typeof raw.value !== 'string' || raw.value === '')) bad('value must be a field name');
  if (raw.perCpu !== undefined && raw.perCpu !== 'sum' && raw.perCpu !== 'label')
    bad(`perCpu must be sum or label, got ${show(raw.perCpu)}`);
  const labels: LabelConfig[] = [];
  if (raw.labels !== undefined && !Array.isArray(raw.labels)) bad('labels must be a list of { name, field, decoder }');
  const seen = new Set<string>();
  for (const [j, l] of (Array.isArray(raw.labels) ? raw.labels : []).entries()) {
    if (!isObject(l)) {
      bad(`labels[${j}]: expected { name, field, decoder }, got ${show(l)}`);
      continue;
    }
    for (const k of Object.keys(l)) if (!LABEL_KEYS.has(k)) bad(`labels[${j}]: unknown key ${show(k)} (name, field, decoder)`);
    const ln = l.name;
    if (typeof ln !== 'string' || !LABEL.test(ln) || ln.startsWith('__'))
      bad(`labels[${j}]: name must be a label name ([a-zA-Z_][a-zA-Z0-9_]*), got ${show(ln)}`);
    else if (RESERVED_LABELS.has(ln)) bad(`label ${show(ln)}: the exporter sets that label itself`);
    else if (seen.has(ln)) bad(`label ${show(ln)}: given twice`);
    if (typeof ln === 'string') seen.add(ln);
    if (l.field !== undefined && (typeof l.field !== 'string' || l.field === ''))
      bad(`label ${show(ln)}: field must be a field name`);
    if (l.decoder !== undefined && !(DECODERS as readonly unknown[]).includes(l.decoder))
      bad(`label ${show(ln)}: unknown decoder ${show(l.decoder)} (${DECODERS.join(', ')})`);
    labels.push({
      name: String(ln),
      ...(typeof l.field === 'string' ? { field: l.field } : {}),
      decoder: (l.decoder as DecoderName | undefined) ?? 'uint',
    });
  }
  const m: MetricConfig = {
    name: String(name),
    type: type as MetricConfig['type'],
    map: String(raw.map),
    labels,
    ...(typeof raw.help === 'string' ? { help: raw.help } : {}),
    ...(typeof raw.value === 'string' ? { value: raw.value } : {}),
    ...(raw.perCpu === 'label' || raw.perCpu === 'sum' ? { perCpu: raw.perCpu } : {}),
  };
  if (type === 'histogram') {
    if (raw.bucket === undefined)
      bad('a histogram needs a bucket spec: bucket: { type: exp2 | exp2zero | linear, field?, multiplier? }');
    else {
      const b = checkBucket(raw.bucket, bad);
      if (b) m.bucket = b;
    }
    if (raw.sum !== undefined) {
      const s = checkSum(raw.sum, bad);
      if (s) m.sum = s;
    }
    if (raw.perCpu === 'label') bad('perCpu: label is for counters and gauges (a histogram sums the CPUs)');
  } else {
    if (raw.bucket !== undefined) bad(`bucket is for histograms, not a ${show(type)}`);
    if (raw.sum !== undefined) bad(`sum is for histograms, not a ${show(type)}`);
  }
  return m;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function checkBucket(raw: unknown, bad: (m: string) => void): BucketConfig | undefined {
  if (!isObject(raw)) {
    bad(`bucket must be { type, field?, multiplier?, … }, got ${show(raw)}`);
    return undefined;
  }
  for (const k of Object.keys(raw))
    if (!BUCKET_KEYS.has(k)) bad(`bucket: unknown key ${show(k)} (${[...BUCKET_KEYS].join(', ')})`);
  const t = raw.type;
  if (t !== 'exp2' && t !== 'exp2zero' && t !== 'linear') {
    bad(`bucket: type must be exp2, exp2zero or linear, got ${show(t)}`);
    return undefined;
  }
  const b: BucketConfig = { type: t };
  if (raw.field !== undefined) {
    if (typeof raw.field !== 'string' || raw.field === '') bad('bucket: field must be a key field name');
    else b.field = raw.field;
  }
  if (raw.multiplier !== undefined) {
    if (!finite(raw.multiplier) || raw.multiplier <= 0)
      bad(`bucket: multiplier must be a positive number, got ${show(raw.multiplier)}`);
    else b.multiplier = raw.multiplier;
  }
  if (raw.maxSlot !== undefined) {
    if (!Number.isInteger(raw.maxSlot) || (raw.maxSlot as number) < 0 || (raw.maxSlot as number) > 4096)
      bad(`bucket: maxSlot must be an integer from 0 to 4096, got ${show(raw.maxSlot)}`);
    else b.maxSlot = raw.maxSlot as number;
  }
  if (t === 'linear') {
    for (const k of ['min', 'max', 'step'] as const) {
      if (!finite(raw[k])) bad(`bucket: linear needs ${k} (a number), got ${show(raw[k])}`);
      else b[k] = raw[k] as number;
    }
    if (b.step !== undefined && b.step <= 0) bad('bucket: step must be positive');
    if (b.min !== undefined && b.max !== undefined && b.max < b.min) bad('bucket: max must not be below min');
    if (b.step && b.min !== undefined && b.max !== undefined && (b.max - b.min) / b.step > 4096)
      bad('bucket: linear spans more than 4096 slots');
    if (raw.maxSlot !== undefined) bad('bucket: maxSlot is for exp2/exp2zero (linear uses min/max/step)');
  } else for (const k of ['min', 'max', 'step']) if (raw[k] !== undefined) bad(`bucket: ${k} is for linear buckets`);
  return b;
}

function checkSum(raw: unknown, bad: (m: string) => void): SumConfig | undefined {
  if (!isObject(raw)) {
    bad(`sum must be { field } | { slot } | { map, value? }, got ${show(raw)}`);
    return undefined;
  }
  for (const k of Object.keys(raw)) if (!SUM_KEYS.has(k)) bad(`sum: unknown key ${show(k)} (field, slot, map, value)`);
  const given = ['field', 'slot', 'map'].filter((k) => raw[k] !== undefined);
  if (given.length !== 1) {
    bad('sum needs exactly one of field, slot, map');
    return undefined;
  }
  if (raw.field !== undefined) {
    if (typeof raw.field !== 'string' || raw.field === '') bad('sum: field must be a value field name');
    return { field: String(raw.field) };
  }
  if (raw.slot !== undefined) {
    if (!Number.isInteger(raw.slot) || (raw.slot as number) < 0) bad(`sum: slot must be a slot number, got ${show(raw.slot)}`);
    return { slot: raw.slot as number };
  }
  if (typeof raw.map !== 'string') {
    bad('sum: map must be a map reference');
    return undefined;
  }
  const r = parseMapRefSpec(raw.map);
  if (typeof r === 'string') bad(`sum: ${r}`);
  if (raw.value !== undefined && (typeof raw.value !== 'string' || raw.value === '')) bad('sum: value must be a field name');
  return { map: raw.map, ...(typeof raw.value === 'string' ? { value: raw.value } : {}) };
}
