/**
 * `registerMapMetrics(registry, config, { object? })`: prom-client metrics that read their maps when
 * the registry is scraped, plus the exporter's own health metrics. The metrics are prom-client's
 * `Counter`, `Gauge` and `Histogram` (so prom-client validates names and labels and serialises
 * them); their `get()` reports what the map holds at scrape time instead of values pushed into
 * them, as kernel-side counters and histogram buckets already are totals.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { type MapMetricsConfig, type MetricConfig, MetricsConfigError, readConfig } from './config.js';
import { HistogramConsumer, type MapShapeInfo, type Sample, ScalarConsumer, compileMetric, compileSumMap } from './compile.js';
import { type Binding, MapSource, type ObjectMaps } from './source.js';

/** Options of `registerMapMetrics`. */
export interface MapMetricsOptions {
  /** A loaded object (a `BpfObject`): bare map names in the config are its maps. */
  object?: ObjectMaps;
  /**
   * Called with one line per problem at scrape time (a map that cannot be read, and when it can be
   * again). Default: `console.warn`.
   */
  onProblem?: (line: string) => void;
}

/** What `registerMapMetrics` registered; `close()` unregisters it and closes the maps it opened. */
export interface MapMetrics {
  /** The metric names registered from the config. */
  readonly names: readonly string[];
  /** The map references, as the health metrics' `map` label spells them. */
  readonly maps: readonly string[];
  /** Unregisters the metrics and closes the maps opened for them (not the object's). Idempotent. */
  close(): void;
  /** `close()`, for `using`. */
  [Symbol.dispose](): void;
}

/**
 * A prom-client `Registry` (any prom-client 15 copy: the user's own works), described by the three
 * methods used, so these types do not need prom-client's.
 */
export interface MetricsRegistry {
  /** Adds a metric (prom-client's `Registry.registerMetric`). */
  // biome-ignore lint/suspicious/noExplicitAny: prom-client's Metric union, without importing its types
  registerMetric(metric: any): void;
  /** Removes the metric named `name`. */
  removeSingleMetric(name: string): void;
  /** The metric named `name`, or undefined. */
  getSingleMetric(name: string): unknown;
}

type PC = typeof PromClient;
let pc: PC | undefined;
/** prom-client, loaded on first use so `import 'bpfmap'` does not load it. */
function promClient(): PC {
  pc ??= createRequire(import.meta.url)('prom-client') as PC;
  return pc;
}

/** The samples now; `forText`: for prom-client's text exposition (which may take them in a faster form). */
type Produce = (forText: boolean) => Sample[];
type Kind = 'counter' | 'gauge' | 'histogram';

/** A prom-client metric of `kind` whose samples come from `produce` at scrape time. */
function scrapeTimeMetric(
  kind: Kind,
  opts: { name: string; help: string; labelNames: string[]; buckets?: number[] },
  produce: Produce,
) {
  const p = promClient();
  // aggregator first: in a cluster every worker reads the same kernel maps; adding them up would multiply.
  const base = { ...opts, registers: [] as PromClient.Registry[], aggregator: 'first' as const };
  const reporter = (forText: boolean) =>
    async function (this: { name: string; help: string; aggregator: string }) {
      return { name: this.name, help: this.help, type: kind, aggregator: this.aggregator, values: produce(forText) };
    };
  let metric: PromClient.Metric;
  if (kind === 'counter') metric = new p.Counter(base);
  else if (kind === 'gauge') metric = new p.Gauge(base);
  else metric = new p.Histogram({ ...base, buckets: opts.buckets?.length ? opts.buckets : [1] });
  // The instance keeps prom-client's class (validation, registry shape, reset, …); only what it
  // reports is replaced: the map's contents at the moment of the scrape. `get()` serves
  // getMetricsAsJSON; the registry's text exposition calls getForPromString.
  Object.defineProperty(metric, 'get', { value: reporter(false), configurable: true, writable: true });
  Object.defineProperty(metric, 'getForPromString', { value: reporter(true), configurable: true, writable: true });
  return metric;
}

/** The exporter's own metrics on one registry, shared by every `registerMapMetrics` call on it. */
class Health {
  readonly sources = new Set<MapSource>();
  readonly names = [
    'bpfmap_map_entries',
    'bpfmap_map_max_entries',
    'bpfmap_map_read_duration_seconds',
    'bpfmap_scrape_duration_seconds',
    'bpfmap_scrape_errors_total',
  ];

  constructor(registry: MetricsRegistry) {
    const per =
      (f: (s: MapSource) => number | undefined): Produce =>
      () => {
        const out: Sample[] = [];
        for (const s of this.#refreshed()) {
          const v = f(s);
          if (v !== undefined) out.push({ labels: { map: s.ref }, value: v });
        }
        return out;
      };
    const metrics = [
      scrapeTimeMetric(
        'gauge',
        { name: 'bpfmap_map_entries', help: 'Entries the map held at this scrape (read maps only)', labelNames: ['map'] },
        per((s) => (s.ok ? s.entries : undefined)),
      ),
      scrapeTimeMetric(
        'gauge',
        { name: 'bpfmap_map_max_entries', help: 'The max_entries the map was created with', labelNames: ['map'] },
        per((s) => (s.ok ? s.maxEntries : undefined)),
      ),
      scrapeTimeMetric(
        'gauge',
        {
          name: 'bpfmap_map_read_duration_seconds',
          help: 'Time this scrape took to read and decode the map',
          labelNames: ['map'],
        },
        per((s) => s.duration),
      ),
      scrapeTimeMetric(
        'gauge',
        {
          name: 'bpfmap_scrape_duration_seconds',
          help: 'Time this scrape took to read and decode every exported map',
          labelNames: [],
        },
        () => [{ labels: {}, value: [...this.#refreshed()].reduce((a, s) => a + s.duration, 0) }],
      ),
      scrapeTimeMetric(
        'counter',
        { name: 'bpfmap_scrape_errors_total', help: 'Scrapes at which the map could not be read', labelNames: ['map'] },
        per((s) => s.errors),
      ),
    ];
    for (const m of metrics) registry.registerMetric(m);
  }

  *#refreshed(): Iterable<MapSource> {
    for (const s of this.sources) {
      s.refresh();
      yield s;
    }
  }
}

const healthOf = new WeakMap<object, Health>();

function problemsFor(m: MetricConfig, ps: readonly string[]): string[] {
  return ps.map((p) => `metric ${JSON.stringify(m.name)}: ${p}`);
}

/**
 * Registers a prom-client metric for each entry of `config.metrics` on `registry`, each reading its
 * map when the registry is scraped (one batch walk per map per scrape, however many metrics use it),
 * and the health metrics `bpfmap_map_entries{map}`, `bpfmap_map_max_entries{map}`,
 * `bpfmap_map_read_duration_seconds{map}`, `bpfmap_scrape_duration_seconds` and
 * `bpfmap_scrape_errors_total{map}`. A map that cannot be read at a scrape (closed, unpinned)
 * counts an error, is reported through `onProblem`, and leaves only its own series out.
 * `config` has the shape of `bpfmap export`'s config file (API.md §11); its `object` key is the
 * CLI's: here pass the loaded object as `opts.object`.
 * @throws {MetricsConfigError} listing every problem (unknown maps and fields, decoders that do not
 * fit their field, histograms without a bucket spec, …), each naming its metric; nothing is
 * registered then and every map opened is closed again.
 */
export function registerMapMetrics(
  registry: MetricsRegistry,
  config: MapMetricsConfig | unknown,
  opts: MapMetricsOptions = {},
): MapMetrics {
  const { config: cfg, problems } = readConfig(config);
  const object = opts.object;
  const log = opts.onProblem ?? ((line: string) => console.warn(`bpfmap metrics: ${line}`));
  const sources = new Map<string, MapSource>();
  const source = (ref: string, m: MetricConfig): MapSource | undefined => {
    let s = sources.get(ref);
    if (!s) {
      s = new MapSource(ref, object, log);
      const p = s.open();
      if (p !== undefined) {
        problems.push(...problemsFor(m, [p]));
        return undefined;
      }
      sources.set(ref, s);
    }
    return s;
  };
  const collectors: PromClient.Metric[] = [];
  for (const m of cfg.metrics) {
    const main = source(m.map, m);
    const sumSrc = m.sum?.map !== undefined ? source(m.sum.map, m) : undefined;
    if (!main || (m.sum?.map !== undefined && !sumSrc)) continue;
    const mainBinding: Binding = { compile: (shape: MapShapeInfo) => compileMetric(m, shape), consumer: undefined };
    const ps = main.bind(mainBinding);
    let sumBinding: Binding | undefined;
    if (sumSrc) {
      sumBinding = { compile: (shape: MapShapeInfo) => compileSumMap(m, shape), consumer: undefined };
      ps.push(...sumSrc.bind(sumBinding));
    }
    const c = mainBinding.consumer;
    if (ps.length > 0 || !(c instanceof HistogramConsumer || c instanceof ScalarConsumer)) {
      problems.push(...problemsFor(m, ps));
      continue;
    }
    const produce: Produce = (forText) => {
      if (!main.refresh()) return [];
      const now = mainBinding.consumer;
      if (now instanceof HistogramConsumer && sumBinding) {
        const sc = sumBinding.consumer;
        now.sumById = sumSrc?.refresh() && sc instanceof ScalarConsumer ? sc.byId() : undefined;
      }
      if (now instanceof ScalarConsumer) return forText ? now.promSamples() : now.samples();
      return now instanceof HistogramConsumer ? now.samples() : [];
    };
    const labelNames = [...c.labels.names, ...(m.perCpu === 'label' ? ['cpu'] : [])];
    const help = m.help ?? `${m.type} from map ${m.map}${m.value ? ` (${m.value})` : ''}`;
    try {
      collectors.push(
        scrapeTimeMetric(
          m.type,
          { name: m.name, help, labelNames, ...(c instanceof HistogramConsumer ? { buckets: c.bounds } : {}) },
          produce,
        ),
      );
    } catch (err) {
      problems.push(...problemsFor(m, [`prom-client refuses it: ${(err as Error).message}`]));
    }
  }
  let health = healthOf.get(registry);
  const close = () => {
    for (const m of collectors) registry.removeSingleMetric((m as unknown as { name: string }).name);
    for (const s of sources.values()) {
      health?.sources.delete(s);
      s.close();
    }
    if (health && health.sources.size === 0) {
      for (const n of health.names) registry.removeSingleMetric(n);
      healthOf.delete(registry);
    }
    sources.clear();
    collectors.length = 0;
  };
  try {
    if (problems.length > 0) throw new MetricsConfigError(problems);
    for (const m of collectors) {
      const name = (m as unknown as { name: string }).name;
      if (registry.getSingleMetric(name))
        throw new MetricsConfigError([`metric ${JSON.stringify(name)}: the registry already has a metric with that name`]);
    }
    if (!health) {
      health = new Health(registry);
      healthOf.set(registry, health);
    }
    for (const m of collectors) registry.registerMetric(m);
    for (const s of sources.values()) health.sources.add(s);
  } catch (err) {
    for (const s of sources.values()) s.close();
    throw err;
  }
  const names = cfg.metrics.map((m) => m.name);
  return {
    names,
    maps: [...sources.keys()],
    close,
    [Symbol.dispose]: close,
  };
}
