/**
 * What a module `bpfmap gen skeleton` printed calls at run time: `loadSkeleton`
 * loads the embedded object and wraps its maps, variables and programs in the
 * codecs the module declares, and the typed ring/perf buffer sources. The
 * module supplies the TypeScript types; this file supplies the behaviour, so
 * it is tested once rather than once per generated module.
 */
import type { Codec } from '../codec/codec.js';
import { BpfError, errnoNumber } from '../errors.js';
import { BpfMap } from '../map/map.js';
import type { ReadOnlyMapping } from '../map/mmap.js';
import type { Link } from '../link/link.js';
import type { BpfObject, LoadObjectOptions } from '../object/load.js';
import '../object/load.js'; // registers the loader spec.load() calls
import { openObject } from '../object/spec.js';
import { type DecodedPerfRecord, PerfEventReader, type PerfReaderOptions } from '../readers/perf-reader.js';
import type { BpfProgram } from '../prog/program.js';
import { RingBufReader } from '../readers/ringbuf.js';
import { BPF_F_MMAPABLE } from '../sys/uapi.js';

/** A global variable of a skeleton, typed by the module's codecs. */
export interface SkeletonVariable<T> {
  /** The current value, as programs see it. @throws {BpfError} EBADF once the skeleton is closed. */
  get(): T;
  /**
   * Writes the value where programs read it.
   * @throws {TypeError} for `.rodata` variables (frozen after load: give them in `load({ variables })`),
   *   and for values the type cannot hold. @throws {BpfError} EBADF once the skeleton is closed.
   */
  set(value: T): void;
}

/** What a generated module's `load()` returns. */
export interface Skeleton<M, V, P> {
  /** The loaded object itself (every map, including the global-data maps, as `BpfMap`s). */
  readonly object: BpfObject;
  readonly maps: M;
  readonly variables: V;
  readonly programs: P;
  /** Attaches every program whose section says where (`BpfObject.attach`); the links close with the skeleton. */
  attach(): Link[];
  /** Closes the readers opened through `maps`, the variables' mappings, then the object. Idempotent. */
  close(): void;
  /** `close()`, for `using`. */
  [Symbol.dispose](): void;
}

/** The options of a generated `load()`: `loadObject`'s, with `variables` typed by the module. */
export type SkeletonLoadOptions<V> = Omit<LoadObjectOptions, 'variables'> & {
  /** The object's name (prefix of its global-data maps' kernel names); default: the module's. */
  name?: string;
  /** Initial values of global variables (`.rodata` ones can only be set here). */
  variables?: V;
};

/** How a generated module describes one map to `loadSkeleton`. */
export type SkeletonMapLayout =
  | { readonly kind: 'typed' | 'percpu'; readonly key: Codec<unknown>; readonly value: Codec<unknown> }
  | { readonly kind: 'ringbuf' | 'perf'; readonly record?: Codec<unknown> }
  | { readonly kind: 'raw' };

/** How a generated module describes its object to `loadSkeleton`. */
export interface SkeletonLayout {
  /** The object file, base64. */
  readonly object: string;
  /** The object's default name. */
  readonly name: string;
  readonly maps: Readonly<Record<string, SkeletonMapLayout>>;
  readonly variables: Readonly<
    Record<string, { readonly section: string; readonly offset: number; readonly type: Codec<unknown> }>
  >;
  readonly programs: readonly string[];
}

/** Something a skeleton closes with itself (the readers opened through its maps). */
export interface Closer {
  /** Releases it. Idempotent. */
  close(): void;
}

/** A ring buffer map whose records are `T` (from the map's BTF or a `--record` given to `bpfmap gen`). */
export class TypedRingBuf<T> {
  readonly map: BpfMap;
  readonly type: Codec<T>;
  readonly #track: (c: Closer) => void;

  /** Made by a generated module's `load()`. */
  constructor(map: BpfMap, type: Codec<T>, track: (c: Closer) => void) {
    this.map = map;
    this.type = type;
    this.#track = track;
  }

  /**
   * Opens a reader of the ring (mmap; closed with the skeleton, or by you). Records shorter than
   * `T` throw `RangeError` unless `{ partial: true }`.
   * @throws {BpfError} from mmap(2), e.g. EPERM.
   */
  open(): TypedRingBufReader<T> {
    const r = new TypedRingBufReader<T>(new RingBufReader(this.map), this.type);
    this.#track(r);
    return r;
  }
}

/** Reads `T` records from a ring buffer: `read()` polls, `for await` waits. */
export class TypedRingBufReader<T> implements AsyncIterable<T> {
  /** The untyped reader underneath. */
  readonly reader: RingBufReader;
  readonly type: Codec<T>;

  /** Use `TypedRingBuf.open()`. */
  constructor(reader: RingBufReader, type: Codec<T>) {
    this.reader = reader;
    this.type = type;
  }

  /** The next record, decoded, or undefined when none is ready. @throws {RangeError} for a record shorter than `T`. */
  read(): T | undefined {
    const b = this.reader.read();
    return b === undefined ? undefined : this.type.decode(b);
  }

  /** Records as they arrive; ends when the reader is closed. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.reader.decoded(this.type)[Symbol.asyncIterator]();
  }

  /** Releases the ring's mappings. Idempotent. */
  close(): void {
    this.reader.close();
  }

  /** `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** A perf event array whose samples are `T` (from a `--record` given to `bpfmap gen`). */
export class TypedPerfBuf<T> {
  readonly map: BpfMap;
  readonly type: Codec<T>;
  readonly #track: (c: Closer) => void;

  /** Made by a generated module's `load()`. */
  constructor(map: BpfMap, type: Codec<T>, track: (c: Closer) => void) {
    this.map = map;
    this.type = type;
    this.#track = track;
  }

  /** Opens a reader on every CPU (closed with the skeleton, or by you). @throws {BpfError} from perf_event_open(2). */
  open(opts?: PerfReaderOptions): TypedPerfReader<T> {
    const r = new TypedPerfReader<T>(new PerfEventReader(this.map, opts), this.type);
    this.#track(r);
    return r;
  }
}

/** Reads `T` samples (with their CPU, or lost counts) from a perf event array. */
export class TypedPerfReader<T> implements AsyncIterable<DecodedPerfRecord<T>> {
  /** The untyped reader underneath. */
  readonly reader: PerfEventReader;
  readonly type: Codec<T>;

  /** Use `TypedPerfBuf.open()`. */
  constructor(reader: PerfEventReader, type: Codec<T>) {
    this.reader = reader;
    this.type = type;
  }

  /** The next sample, decoded, or undefined when none is ready. */
  read(): DecodedPerfRecord<T> | undefined {
    const r = this.reader.read();
    if (r === undefined) return undefined;
    return r.data === undefined ? { cpu: r.cpu, lost: r.lost } : { cpu: r.cpu, value: this.type.decode(r.data) };
  }

  /** Samples as they arrive; ends when the reader is closed. */
  [Symbol.asyncIterator](): AsyncIterator<DecodedPerfRecord<T>> {
    return this.reader.decoded(this.type)[Symbol.asyncIterator]();
  }

  /** Closes the per-CPU rings. Idempotent. */
  close(): void {
    this.reader.close();
  }

  /** `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** A ring buffer or perf event array whose record type is not known: `open()` gives the library's raw reader. */
export class RawEventSource<R extends RingBufReader | PerfEventReader> {
  readonly map: BpfMap;
  readonly #open: () => R;

  /** Made by a generated module's `load()`. */
  constructor(map: BpfMap, open: () => R) {
    this.map = map;
    this.#open = open;
  }

  /** Opens a reader of raw records (closed with the skeleton, or by you). */
  open(): R {
    return this.#open();
  }
}

function decodeBase64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function closedSkeleton(what: string): BpfError {
  return new BpfError('get', errnoNumber('EBADF'), { hint: `${what}: the skeleton is closed` });
}

/**
 * Loads a generated module's object and wraps it (called by the module's `load()`; the module's
 * declared types are `S`).
 * @throws {ObjectError} as `loadObject`; nothing stays open after a failure.
 */
export function loadSkeleton<S>(layout: SkeletonLayout, opts: SkeletonLoadOptions<object> = {}): S {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('load options must be an object');
  const { name, variables: initial, ...rest } = opts;
  const spec = openObject(decodeBase64(layout.object), { name: name ?? layout.name });
  // Initial values through our codecs, handed to the loader as its own decoding of the same bytes.
  for (const [vname, value] of Object.entries(initial ?? {})) {
    if (value === undefined) continue;
    const mine = layout.variables[vname];
    const theirs = spec.variables[vname];
    if (!mine || !theirs)
      throw new TypeError(
        `load(): no global variable is named ${vname} (the object has ${Object.keys(layout.variables).join(', ') || 'none'})`,
      );
    theirs.set(theirs.type.decode(mine.type.encode(value)));
  }
  const object = spec.load(rest);
  const closers: Closer[] = [];
  const mappings: (Uint8Array | ReadOnlyMapping)[] = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const c of closers.splice(0).reverse()) {
      try {
        c.close();
      } catch {}
    }
    for (const m of mappings.splice(0)) {
      try {
        BpfMap.unmap(m);
      } catch {}
    }
    object.close();
  };
  try {
    const track = (c: Closer) => closers.push(c);
    const maps: Record<string, unknown> = {};
    for (const [mname, m] of Object.entries(layout.maps)) {
      const map = object.maps[mname];
      if (!map) continue;
      if (m.kind === 'typed') maps[mname] = map.typed(m.key, m.value);
      else if (m.kind === 'percpu') maps[mname] = map.typedPerCpu(m.key, m.value);
      else if (m.kind === 'ringbuf')
        maps[mname] = m.record
          ? new TypedRingBuf(map, m.record, track)
          : new RawEventSource(map, () => {
              const r = new RingBufReader(map);
              track(r);
              return r;
            });
      else if (m.kind === 'perf')
        maps[mname] = m.record
          ? new TypedPerfBuf(map, m.record, track)
          : new RawEventSource(map, () => {
              const r = new PerfEventReader(map);
              track(r);
              return r;
            });
      else maps[mname] = map;
    }
    const views = new Map<string, { bytes: () => Uint8Array; readOnly: boolean }>();
    const viewOf = (section: string) => {
      const known = views.get(section);
      if (known) return known;
      const map = object.maps[section];
      if (!map || !(map.flags & BPF_F_MMAPABLE)) return undefined;
      const readOnly = section.startsWith('.rodata');
      let v: { bytes: () => Uint8Array; readOnly: boolean };
      if (readOnly) {
        const ro = map.mmap({ writable: false });
        mappings.push(ro);
        v = { bytes: () => ro.slice(), readOnly };
      } else {
        const rw = map.mmap();
        mappings.push(rw);
        v = { bytes: () => rw, readOnly };
      }
      views.set(section, v);
      return v;
    };
    const variables: Record<string, SkeletonVariable<unknown>> = {};
    for (const [vname, v] of Object.entries(layout.variables)) {
      const live = object.variables[vname];
      const theirs = spec.variables[vname];
      const view = viewOf(v.section);
      const codec = v.type;
      if (view) {
        variables[vname] = Object.freeze({
          get: () => {
            if (closed) throw closedSkeleton(vname);
            return codec.decode(view.bytes(), v.offset);
          },
          set: (value: unknown) => {
            if (closed) throw closedSkeleton(vname);
            if (view.readOnly)
              throw new TypeError(
                `${vname} is in ${v.section}, which is frozen after load: give it in load({ variables: { ${vname}: … } })`,
              );
            // Encoded aside first (errors name the variable), then copied: a bad value changes nothing.
            const tmp = new Uint8Array(codec.size);
            codec.write(new DataView(tmp.buffer), 0, value, vname);
            const bytes = view.bytes();
            if (v.offset + tmp.length > bytes.length) throw new RangeError(`${vname}: past the end of ${v.section}`);
            bytes.set(tmp, v.offset);
          },
        });
      } else if (live && theirs) {
        // No mapping (a kernel without mmapable arrays): through the loader's variable, as bytes.
        variables[vname] = Object.freeze({
          get: () => {
            if (closed) throw closedSkeleton(vname);
            return codec.decode(theirs.type.encode(live.get()));
          },
          set: (value: unknown) => {
            if (closed) throw closedSkeleton(vname);
            live.set(theirs.type.decode(codec.encode(value)));
          },
        });
      }
    }
    const programs: Record<string, BpfProgram> = {};
    for (const p of layout.programs) {
      const prog = object.programs[p];
      if (prog) programs[p] = prog;
    }
    const skel: Skeleton<unknown, unknown, unknown> = Object.freeze({
      object,
      maps: Object.freeze(maps),
      variables: Object.freeze(variables),
      programs: Object.freeze(programs),
      attach: () => object.attach(),
      close,
      [Symbol.dispose]: close,
    });
    return skel as S;
  } catch (e) {
    close();
    throw e;
  }
}
