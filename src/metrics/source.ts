/**
 * One map as the metrics see it: how its reference is resolved (an object's map, `id:N`,
 * `pinned:PATH`, `name:NAME`), and the walk that reads it once per scrape for every metric using
 * it. A `pinned:` map is looked up again at every scrape, so a tool that restarts and pins a new
 * map is followed, and a map unpinned under the exporter is reported (and its series dropped)
 * instead of being read forever through a stale fd.
 */
import { BpfError, BpfMap, listMaps, possibleCpus } from '../api.js';
import { type MapRefSpec, parseMapRefSpec } from './config.js';
import type { Consumer, MapShapeInfo } from './compile.js';
import { mapLayout } from './layout.js';

/** The maps of a loaded object, by name (a `BpfObject` is one). */
export interface ObjectMaps {
  readonly maps: Readonly<Record<string, BpfMap>>;
}

/** A metric's use of a source: compiled again whenever the source's map changes. */
export interface Binding {
  /** Compiles against the map's shape: the consumer, or problems. */
  compile(shape: MapShapeInfo): Consumer | string[];
  consumer: Consumer | undefined;
}

/** Elements per batch: a small map is read in one syscall; a large one in few. */
const MAX_BATCH = 8192;

function shapeOf(map: BpfMap): MapShapeInfo {
  const cpuStride = Math.ceil(map.valueSize / 8) * 8;
  const cpus = map.isPerCpu ? possibleCpus() : 1;
  return {
    layout: mapLayout(map),
    isPerCpu: map.isPerCpu,
    cpuStride,
    cpus,
    valueStride: map.isPerCpu ? cpuStride * cpus : map.valueSize,
  };
}

const message = (err: unknown) => (err instanceof Error ? err.message.split('\n')[0] : String(err)) as string;

/** One map reference and its walk. */
export class MapSource {
  /** The reference as written in the config: also the `map` label of the health metrics. */
  readonly ref: string;
  readonly spec: MapRefSpec;
  readonly #object: ObjectMaps | undefined;
  readonly #log: (line: string) => void;
  readonly bindings: Binding[] = [];
  #map: BpfMap | undefined;
  #owned = false;
  #shape: MapShapeInfo | undefined;
  #fresh = false;
  /** Whether the last read worked. */
  ok = false;
  entries = 0;
  maxEntries = 0;
  /** Seconds the last read took. */
  duration = 0;
  /** Reads that failed since start. */
  errors = 0;
  #problem: string | undefined;

  constructor(ref: string, object: ObjectMaps | undefined, log: (line: string) => void) {
    this.ref = ref;
    this.spec = parseMapRefSpec(ref) as MapRefSpec;
    this.#object = object;
    this.#log = log;
  }

  /** Opens the map (at registration: a failure is a config problem). @returns the problem, if any. */
  open(): string | undefined {
    try {
      this.#swap(this.#resolve());
      return undefined;
    } catch (err) {
      return message(err);
    }
  }

  /** Adds a metric's binding, compiled against the current map. @returns the problems. */
  bind(b: Binding): string[] {
    this.bindings.push(b);
    const c = b.compile(this.#shape as MapShapeInfo);
    if (Array.isArray(c)) return c;
    b.consumer = c;
    return [];
  }

  /** Compiles every binding against the current map. @returns the problems. */
  compileAll(): string[] {
    const shape = this.#shape as MapShapeInfo;
    const problems: string[] = [];
    for (const b of this.bindings) {
      const c = b.compile(shape);
      if (Array.isArray(c)) problems.push(...c);
      else b.consumer = c;
    }
    return problems;
  }

  #resolve(): { map: BpfMap; owned: boolean } {
    const s = this.spec;
    switch (s.by) {
      case 'object': {
        if (!this.#object)
          throw new Error(`unknown map ${JSON.stringify(s.name)}: no object was given (use id:N, pinned:PATH or name:NAME)`);
        const m = Object.hasOwn(this.#object.maps, s.name) ? this.#object.maps[s.name] : undefined;
        if (!m)
          throw new Error(
            `unknown map ${JSON.stringify(s.name)} (the object has ${Object.keys(this.#object.maps).join(', ') || 'no maps'})`,
          );
        return { map: m, owned: false };
      }
      case 'id':
        try {
          return { map: BpfMap.fromId(s.id), owned: true };
        } catch (err) {
          if (BpfError.is(err, 'ENOENT')) throw new Error(`unknown map id:${s.id} (no map has that id)`);
          throw err;
        }
      case 'pinned':
        try {
          return { map: BpfMap.openPinned(s.path), owned: true };
        } catch (err) {
          if (BpfError.is(err, 'ENOENT')) throw new Error(`unknown map pinned:${s.path} (nothing is pinned there)`);
          throw err;
        }
      case 'name': {
        const found = listMaps().filter((i) => i.name === s.name);
        if (found.length === 0) throw new Error(`unknown map name:${s.name} (no map has that name)`);
        if (found.length > 1)
          throw new Error(
            `map name:${s.name} is ambiguous: maps ${found.map((i) => i.id).join(', ')} have that name (use id:N or pinned:PATH)`,
          );
        return { map: BpfMap.fromId((found[0] as { id: number }).id), owned: true };
      }
    }
  }

  #swap(next: { map: BpfMap; owned: boolean }): void {
    this.#drop();
    this.#map = next.map;
    this.#owned = next.owned;
    this.#shape = shapeOf(next.map);
    this.maxEntries = next.map.maxEntries;
  }

  #drop(): void {
    if (this.#owned) this.#map?.close();
    this.#map = undefined;
    this.#shape = undefined;
    for (const b of this.bindings) b.consumer = undefined;
  }

  /** `pinned:` maps: follows the pin to the map it holds now; recompiles when that map changed. */
  #follow(): void {
    if (this.spec.by !== 'pinned' && this.#map) return;
    const next = this.#resolve();
    if (this.#map && !this.#map.closed && next.map.id === this.#map.id) {
      if (next.owned) next.map.close();
      return;
    }
    this.#swap(next);
    const problems = this.compileAll();
    if (problems.length) {
      this.#drop();
      throw new Error(`the map now at ${this.ref} does not fit the config: ${problems.join('; ')}`);
    }
  }

  /**
   * Reads the map, once per scrape: every metric's `get()` of one `registry.metrics()` call runs in
   * the same synchronous pass, so the first read is shared until the next microtask.
   * @returns whether the read worked (a failure is counted, logged once until it changes, and the
   * map's series are left out of this scrape).
   */
  refresh(): boolean {
    if (this.#fresh) return this.ok;
    this.#fresh = true;
    queueMicrotask(() => {
      this.#fresh = false;
    });
    const t0 = performance.now();
    try {
      if (this.spec.by === 'pinned' || !this.#map) {
        try {
          this.#follow();
        } catch (err) {
          if (this.spec.by === 'pinned') this.#drop(); // gone: stop reading the old map through our fd
          throw err;
        }
      }
      const map = this.#map as BpfMap;
      const shape = this.#shape as MapShapeInfo;
      const consumers = this.bindings.map((b) => b.consumer).filter((c): c is Consumer => c !== undefined);
      for (const c of consumers) c.begin();
      const ks = map.keySize;
      const vs = shape.valueStride;
      let n = 0;
      const batchSize = Math.max(1, Math.min(map.maxEntries, MAX_BATCH));
      for (const chunk of map.chunks({ reuse: true, batchSize })) {
        const { keys, values } = chunk;
        const kv = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
        const vv = new DataView(values.buffer, values.byteOffset, values.byteLength);
        for (let i = 0; i < chunk.count; i++) for (const c of consumers) c.entry(keys, kv, i * ks, values, vv, i * vs);
        n += chunk.count;
      }
      for (const c of consumers) c.end?.();
      this.entries = n;
      this.ok = true;
      if (this.#problem !== undefined) this.#log(`map ${this.ref}: readable again`);
      this.#problem = undefined;
    } catch (err) {
      this.ok = false;
      this.errors++;
      const msg = message(err);
      if (msg !== this.#problem) this.#log(`map ${this.ref}: ${msg}`);
      this.#problem = msg;
    }
    this.duration = (performance.now() - t0) / 1000;
    return this.ok;
  }

  /** Closes the map if this source opened it. */
  close(): void {
    this.#drop();
  }
}
