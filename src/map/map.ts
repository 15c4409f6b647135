/**
 * `BpfMap`: an open BPF map that owns its fd. This file holds construction and fd ownership, the
 * element operations (the straight-line hot paths and their checked twins, with the scratch they
 * use), the integer element helpers on the same paths, and pin/freeze/info. Each other concern is a
 * file beside this one that the public methods delegate to, passing the map's `MapInternals`
 * (internals.ts): batch-walk.ts, iterate.ts, record-ops.ts (struct helpers), keyless.ts
 * (queue/stack/bloom), typed-views.ts, mmap.ts; create.ts, values.ts, fd-values.ts, hints.ts below them.
 */
import { unlinkSync } from 'node:fs';
import type { Codec } from '../codec/codec.js';
import { BpfError, closedError, errnoNumber } from '../errors.js';
import {
  BLOCK_KEY,
  BLOCK_KEY_CAP,
  BLOCK_VALUE,
  BLOCK_VALUE_CAP,
  Cmd,
  cPath,
  dupFd,
  elem,
  elemInBlock,
  elemKeyed,
  fromBlock,
  getFdById,
  mapFreeze,
  objGet,
  objPin,
  toBlock,
} from '../sys/bpf.js';
import { fdKind, own, release } from '../sys/fd.js';
import { BPF_F_RDONLY, BPF_F_WRONLY, MapType } from '../sys/uapi.js';
import { arrayElements, checkBytes, checkFlags, checkPath, checkU32, describeValue, isBytesOf } from '../validate.js';
import { type BatchChunk, type BatchWalkOptions, deleteBatch, updateBatch, walkBatch } from './batch-walk.js';
import { fdValueBytes, takesFds } from './fd-values.js';
import { mapError } from './hints.js';
import { type MapFdInfo, type MapInfo, readMapFdInfo, readMapInfo, requireMapFd } from './info.js';
import type { BpfMapLike } from './interface.js';
import { IntScratch, decodeKey, encodeInt, intKey, intValue, intWidth, readInt } from './int-ops.js';
import type { MapInternals } from './internals.js';
import { mapChunks, mapEntries, mapKeys } from './iterate.js';
import { KernelLoops, type LookupManyOptions, type LookupManyResult, lookupMany } from './kernel-loop/lookup-many.js';
import { peek, pop, push } from './keyless.js';
import { type ReadOnlyMapping, mapPages, unmapPages } from './mmap.js';
import { deleteStruct, getNextKeyStruct, lookupStruct, updateStruct } from './record-ops.js';
import { type MapShape, isPerCpuType, valueBufferSize } from './shape.js';
import { hasTrait, mapTypeName } from './traits.js';
import type { PerCpuTypedMap, TypedMap } from './typed-map.js';
import { typedFromBtf, typedView } from './typed-views.js';
import { type PerCpuLayout, ownOpts, perCpuLayout, perCpuSlots, perCpuValue } from './values.js';

const ENOENT = errnoNumber('ENOENT');
const EINVAL = errnoNumber('EINVAL');

import { type MapCreateOptions, createMapFd } from './create.js';
export type { MapBtf, MapCreateOptions } from './create.js';
export type { BatchChunk, BatchWalkOptions } from './batch-walk.js';
export type { LookupManyOptions, LookupManyResult } from './kernel-loop/lookup-many.js';

export type { LookupOptions, MapValue, NetSocketLike, OpenOptions, UpdateOptions, UpdateValue } from './options.js';
import type { LookupOptions, MapValue, OpenOptions, UpdateOptions, UpdateValue } from './options.js';

const TOKEN: unique symbol = Symbol('BpfMap');

/** A closed `BpfMap` given as an fd value (fd-values.ts asks). */
const isClosedMap = (v: unknown): boolean => v instanceof BpfMap && v.closed;

/**
 * An open BPF map. Owns its fd: `close()` it (or use `using`); a map dropped
 * without closing is closed by the garbage collector. Every operation on a
 * closed map throws `BpfError` `EBADF` before any syscall.
 */
export class BpfMap<K = unknown, V = unknown> implements MapShape, BpfMapLike<K, V> {
  #fd: number;
  readonly type: MapType;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /**
   * `map_flags` as the kernel reports them. BPF_F_RDONLY/BPF_F_WRONLY are not
   * among them: the kernel turns those into the fd's access mode.
   */
  readonly flags: number;
  /** Kernel-wide id. */
  readonly id: number;
  /** Values are one slot per possible CPU. */
  readonly isPerCpu: boolean;
  /** Bytes of one whole value as the kernel copies it: `valueSize`, or `roundUp(valueSize, 8) × possibleCpus()` on per-CPU maps. */
  readonly valueBufferSize: number;
  /** Where each CPU's slot is in a whole value (values.ts); undefined on maps with one value per key. */
  readonly #layout: PerCpuLayout | undefined;
  /*
   * Scratch buffers, made on first use, one owner each. The rule for all of them: a method fills one
   * and hands it to the syscall it makes next, with no user code (getters, codecs of the caller's)
   * running in between, so a buffer is never live across a call that could reach this map again.
   * - #stage (max(valueBufferSize, 8) bytes): an update's value when the caller's bytes cannot be
   *   passed as they are: a per-CPU value packed by #value(), or an fd value written by #fdValue()
   *   (no map type is both). Consumed by the update that made it.
   * - #ints (int-ops.ts): the int helpers' key and value (lookupInt, updateInt, deleteInt, the
   *   struct helpers' integer keys); the key is encoded after the value and options are read, so
   *   it is the last thing written before the syscall.
   * - #outViews: the per-CPU views of the last `out` a lookup filled (returned to the caller, who
   *   owns `out`; remade when another `out` comes).
   * - the struct helpers' record buffer is MapInternals.record (record-ops.ts states its rule).
   */
  #stage: Uint8Array | undefined;
  readonly #ints = new IntScratch();
  #outViews: { out: Uint8Array; views: readonly Uint8Array[] } | undefined;
  /** What the files beside this one reach of this map (internals.ts), made on first use. */
  #internals: MapInternals | undefined;
  /** The kernel-loop programs of `lookupMany` (kernel-loop/), made on first use, released by close(). */
  #loops: KernelLoops | undefined;
  #keyCodec: Codec<unknown> | undefined;
  #valueCodec: Codec<unknown> | undefined;
  /** Keys and whole values fit the call block (the hot path; see sys/bpf.ts). */
  readonly #inBlock: boolean;
  /**
   * The key size the straight-line paths take, or -1 when they cannot be
   * used (keyless or element-less maps, keys or values beyond the call
   * block, a closed map): one comparison says "open, and the key fits".
   */
  #fastKey: number;
  /** The value size `update`'s straight-line path takes, or -1 (fd-valued maps check each fd). */
  readonly #fastValue: number;
  /** Values are fds of kernel objects, checked on update (prog arrays, sockmaps, …). */
  readonly #fdValues: boolean;
  /** Elements exist for every index and cannot be deleted (array, per-CPU array). */
  readonly #undeletable: boolean;
  /** No element operations at all (ring buffers, arenas): refused before the syscall. */
  readonly #noElements: boolean;

  /** Not for direct use: see `BpfMap.create`, `openPinned`, `fromId`, `fromFd`. */
  constructor(token: typeof TOKEN, fd: number, info: MapInfo) {
    if (token !== TOKEN) throw new TypeError('use BpfMap.create(), openPinned(), fromId() or fromFd()');
    this.#fd = fd;
    this.type = info.type;
    this.name = info.name;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.id = info.id;
    this.isPerCpu = isPerCpuType(info.type);
    this.valueBufferSize = valueBufferSize(info.type, info.valueSize);
    this.#layout = this.isPerCpu ? perCpuLayout(info.valueSize) : undefined;
    this.#fdValues = takesFds(info.type);
    this.#undeletable = hasTrait(info.type, 'arrayLike') && !hasTrait(info.type, 'deletable');
    this.#noElements = hasTrait(info.type, 'noElements');
    this.#inBlock = this.keySize <= BLOCK_KEY_CAP && this.valueBufferSize <= BLOCK_VALUE_CAP;
    this.#fastKey = this.#inBlock && this.keySize > 0 && !this.#noElements ? this.keySize : -1;
    this.#fastValue = this.#fdValues ? -1 : this.valueBufferSize;
    own(this, fd);
  }

  /**
   * Wraps a fresh fd that nothing else owns, closing it if anything throws
   * before the map owns it (its info, the possible CPUs of a per-CPU map).
   */
  static #adopt(fd: number): BpfMap {
    try {
      return new BpfMap(TOKEN, fd, readMapInfo(fd));
    } catch (err) {
      release({}, fd);
      throw err;
    }
  }

  /**
   * Creates a map (BPF_MAP_CREATE).
   * @throws {TypeError|RangeError} for bad options, before any syscall.
   * @throws {BpfError} EINVAL (the hint names the suspect argument), EPERM, ENOMEM, E2BIG.
   * @kernel 3.19 (each map type has its own: see `MapType`)
   */
  static create<K = unknown, V = unknown>(opts: MapCreateOptions<K, V>): BpfMap<K, V> {
    if (typeof opts !== 'object' || opts === null)
      throw new TypeError(`BpfMap.create takes an options object, got ${describeValue(opts)}`);
    let innerMapFd: number | undefined;
    if (opts.innerMap !== undefined) {
      if (!(opts.innerMap instanceof BpfMap))
        throw new TypeError(`innerMap must be a BpfMap, got ${describeValue(opts.innerMap)}`);
      if (opts.innerMap.closed) throw closedError('BPF_MAP_CREATE', 'inner map');
      innerMapFd = opts.innerMap.fd;
    }
    const fd = createMapFd(opts as MapCreateOptions, innerMapFd);
    const map = BpfMap.#adopt(fd);
    map.#keyCodec = opts.key;
    map.#valueCodec = opts.value;
    return map;
  }

  /**
   * Opens the map pinned at `path` on a bpffs (BPF_OBJ_GET).
   * @throws {BpfError} ENOENT when nothing is pinned there, EPERM/EACCES.
   * @throws {TypeError} when the pinned object is not a map.
   * @kernel 4.4
   */
  static openPinned(path: string, opts: OpenOptions = {}): BpfMap {
    checkPath('path', path);
    const fileFlags = (opts.readOnly ? BPF_F_RDONLY : 0) | (opts.writeOnly ? BPF_F_WRONLY : 0);
    const fd = objGet(cPath(path), fileFlags);
    if (fd < 0) throw mapError('BPF_OBJ_GET', -fd);
    const kind = fdKind(fd);
    if (kind !== 'bpf-map') {
      release({}, fd);
      throw new TypeError(`the object pinned at ${path} is ${kind ?? 'unknown'}, not a BPF map`);
    }
    return BpfMap.#adopt(fd);
  }

  /**
   * Opens the map with kernel-wide id `id` (BPF_MAP_GET_FD_BY_ID; needs CAP_SYS_ADMIN).
   * @throws {BpfError} ENOENT when no map has that id.
   * @kernel 4.13
   */
  static fromId(id: number, opts: OpenOptions = {}): BpfMap {
    checkU32('id', id);
    const openFlags = (opts.readOnly ? BPF_F_RDONLY : 0) | (opts.writeOnly ? BPF_F_WRONLY : 0);
    const fd = getFdById(Cmd.BPF_MAP_GET_FD_BY_ID, id, openFlags);
    if (fd < 0) throw mapError('BPF_MAP_GET_FD_BY_ID', -fd);
    return BpfMap.#adopt(fd);
  }

  /**
   * Wraps an fd that refers to a map. The `BpfMap` owns a duplicate of it
   * (F_DUPFD_CLOEXEC): `fd` stays the caller's to keep or close, and closing
   * either one (or the wrapper's collection) never closes the other, so no
   * fd number has two owners.
   * @throws {BpfError} EBADF when `fd` is not open, EMFILE when no fd is free. @throws {TypeError} when it is not a map.
   */
  static fromFd(fd: number): BpfMap {
    const own = dupFd(requireMapFd(fd, 'BPF_OBJ_GET_INFO_BY_FD'));
    if (own < 0) throw new BpfError('F_DUPFD_CLOEXEC', -own, { hint: `duplicating fd ${fd} for the BpfMap to own` });
    return BpfMap.#adopt(own);
  }

  /**
   * The map's fd, or -1 once closed. The map owns it: do not close it yourself (`fs.closeSync`), use
   * `close()` (an fd closed behind the map's back may be reused by another object, which its calls then reach).
   */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  #live(command: string): number {
    const fd = this.#fd;
    if (fd < 0) throw closedError(command);
    return fd;
  }

  #key(key: unknown, what = 'key'): Uint8Array | null {
    if (this.#noElements)
      throw new TypeError(
        `a ${this.#typeName()} map has no elements to look up, update or delete${this.type === MapType.Arena ? ': use mmap' : this.type === MapType.Ringbuf ? ': read it with RingBufReader' : ': programs drain it'}`,
      );
    if (this.keySize === 0) {
      if (key === null || key === undefined) return null;
      throw new TypeError(`this ${this.#typeName()} map has no keys (key_size 0): pass null as the ${what}`);
    }
    return checkBytes(what, key, this.keySize, "the map's key_size");
  }

  #typeName(): string {
    return mapTypeName(this.type);
  }

  #out(out: Uint8Array | undefined): Uint8Array {
    if (out === undefined) return new Uint8Array(this.valueBufferSize);
    return checkBytes(
      'out',
      out,
      this.valueBufferSize,
      this.isPerCpu ? 'roundUp(valueSize, 8) × possibleCpus()' : "the map's value_size",
    );
  }

  /**
   * The per-CPU views of a caller's `out` buffer: made once per buffer and
   * frozen, so a loop that passes the same `out` allocates nothing.
   */
  #viewsOf(out: Uint8Array): Uint8Array[] {
    const cached = this.#outViews;
    if (cached !== undefined && cached.out === out) return cached.views as Uint8Array[];
    const views = Object.freeze(this.#result(out) as Uint8Array[]);
    this.#outViews = { out, views };
    return views as Uint8Array[];
  }

  /**
   * The inner map stored under `key` in an array or hash of maps (lookups
   * return the inner map's id), opened as a `BpfMap`; undefined when absent.
   * @kernel 4.12
   * @throws {TypeError} on maps that are not maps of maps. @throws {BpfError} EBADF once the map is closed; EPERM without CAP_SYS_ADMIN to open the inner map by id.
   */
  lookupInnerMap(key: Uint8Array): BpfMap | undefined {
    this.#live('BPF_MAP_LOOKUP_ELEM');
    if (this.type !== MapType.ArrayOfMaps && this.type !== MapType.HashOfMaps)
      throw new TypeError(`lookupInnerMap() is for array and hash of maps; this is a ${this.#typeName()} map`);
    const v = this.lookup(key) as Uint8Array | undefined;
    if (v === undefined) return undefined;
    const id = new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);
    return id === 0 ? undefined : BpfMap.fromId(id);
  }

  /** Splits a whole per-CPU value into one view per possible CPU (each `valueSize` bytes). */
  #result(buf: Uint8Array): MapValue {
    const l = this.#layout;
    return l === undefined ? buf : perCpuSlots(buf, l);
  }

  /** The bytes to hand the kernel for an update (fd-values.ts, values.ts), checked. */
  #value(value: unknown): Uint8Array {
    if (this.#fdValues) return fdValueBytes(this, this.#typeName(), value, this.#stageBuf(), isClosedMap);
    const l = this.#layout;
    if (l === undefined) return checkBytes('value', value, this.valueSize, "the map's value_size");
    return perCpuValue(this, l, value, this.#stageBuf());
  }

  /** The staging buffer (see the scratch rule above). */
  #stageBuf(): Uint8Array {
    this.#stage ??= new Uint8Array(Math.max(this.valueBufferSize, 8));
    return this.#stage;
  }

  /** This map's internals for the files beside this one (not used by the element hot paths). */
  #in(): MapInternals {
    if (this.#internals !== undefined) return this.#internals;
    this.#internals = {
      live: (command) => this.#live(command),
      value: (value) => this.#value(value),
      result: (buf) => this.#result(buf),
      intKey: (key, command) => intKey(this.#ints, this.keySize, key, command),
      typeName: () => this.#typeName(),
      undeletable: this.#undeletable,
      keyCodec: this.#keyCodec,
      valueCodec: this.#valueCodec,
      record: { buf: undefined, view: undefined, busy: false },
      loops: () => {
        this.#loops ??= new KernelLoops();
        return this.#loops;
      },
    };
    return this.#internals;
  }

  /**
   * Looks up the value stored under `key` (one syscall).
   * @returns the value, one `Uint8Array` per possible CPU on per-CPU maps, or `undefined` when absent.
   * @throws {BpfError} EPERM (write-only map), EINVAL (flags not accepted).
   * @kernel 3.19 (`BPF_F_LOCK` 5.1)
   */
  lookup(key: Uint8Array | null, opts?: LookupOptions): MapValue | undefined {
    return this.#copyOut(Cmd.BPF_MAP_LOOKUP_ELEM, 'BPF_MAP_LOOKUP_ELEM', key, opts);
  }

  /**
   * One lookup-like command (lookup, lookup-and-delete) that copies a value out.
   * The common case (open map, key of the map's size, no options, or only a
   * right-sized `out`) runs straight-line and small enough for the JIT to
   * inline into the caller: after each syscall the CPU runs JavaScript cold,
   * so every call and branch between two syscalls shows in the cost.
   * Anything else takes the checked path.
   */
  #copyOut(cmd: number, command: string, key: Uint8Array | null, opts: LookupOptions | undefined): MapValue | undefined {
    // Each option is read once, before any argument is checked: a getter that detaches or shrinks
    // a buffer runs before the checks that would see it, never between them and the syscall.
    const out = opts?.out;
    const flags = opts?.flags;
    const fk = this.#fastKey;
    const n = this.valueBufferSize;
    if (flags === undefined && isBytesOf(key, fk) && (out === undefined || isBytesOf(out, n))) {
      const r = elemKeyed(cmd, this.#fd, key, fk, n);
      if (r === 0) return this.#copyResult(out as Uint8Array | undefined, n);
      if (r === -ENOENT) return undefined;
      throw mapError(command, -r, this, 0);
    }
    return this.#copyOutChecked(cmd, command, key, out, flags);
  }

  /** `#copyOut` for every case, on options already read: checks each argument, then one syscall. */
  #copyOutChecked(cmd: number, command: string, key: unknown, out: unknown, rawFlags: unknown): MapValue | undefined {
    const n = this.valueBufferSize;
    const fd = this.#live(command);
    const flags = rawFlags === undefined ? 0 : checkFlags('flags', rawFlags);
    const k = this.#key(key);
    const o = out === undefined ? undefined : this.#out(out as Uint8Array);
    if (this.type === MapType.BloomFilter && cmd === Cmd.BPF_MAP_LOOKUP_ELEM)
      throw new TypeError('a bloom filter holds no values to look up: test membership with peek(value)');
    if (this.#inBlock) {
      const r = elemInBlock(cmd, fd, this.#stageKey(k), n, flags);
      if (r === -ENOENT) return undefined;
      if (r < 0) throw mapError(command, -r, this, flags);
      return this.#copyResult(o, n);
    }
    const buf = o ?? new Uint8Array(n);
    const r = elem(cmd, fd, k, this.keySize, buf, n, flags);
    if (r === -ENOENT) return undefined;
    if (r < 0) throw mapError(command, -r, this, flags);
    return this.#result(buf);
  }

  /** The value the call block holds after a lookup, in `out` or a new buffer. */
  #copyResult(out: Uint8Array | undefined, n: number): MapValue {
    if (out === undefined) {
      if (!this.isPerCpu) return fromBlock(new Uint8Array(n), BLOCK_VALUE, n);
      // One small array per CPU, each its own copy: views into one fresh buffer would make V8 move
      // that buffer off its heap, which costs more than the copies.
      const l = this.#layout as PerCpuLayout;
      const size = l.size;
      const values = new Array<Uint8Array>(l.cpus);
      for (let i = 0; i < l.cpus; i++) values[i] = fromBlock(new Uint8Array(size), BLOCK_VALUE + i * l.stride, size);
      return values;
    }
    fromBlock(out, BLOCK_VALUE, n);
    return this.isPerCpu ? this.#viewsOf(out) : out;
  }

  /** Copies a checked key into the call block; its length there, or -1 for none. */
  #stageKey(k: Uint8Array | null): number {
    if (k === null) return -1;
    toBlock(k, BLOCK_KEY, this.keySize);
    return this.keySize;
  }

  /**
   * Stores `value` under `key` (one syscall). Per-CPU maps take one value
   * (copied to every CPU) or one per possible CPU; array/hash of maps take a `BpfMap`.
   * @throws {BpfError} EEXIST (BPF_NOEXIST, key present), ENOENT (BPF_EXIST, key absent),
   *   E2BIG (map full / index out of range), EPERM (read-only or frozen map).
   * @kernel 3.19 (`BPF_F_LOCK` 5.1)
   */
  update(key: Uint8Array | null, value: UpdateValue, opts?: UpdateOptions): void {
    // Straight-line common case (see #copyOut): bytes of the right sizes, no flags. The option is
    // read once, first; both buffers' `instanceof` (which a prototype proxy could trap) come
    // before either buffer's elements are probed.
    const flags = opts?.flags;
    const fk = this.#fastKey;
    const fv = this.#fastValue;
    if (
      flags === undefined &&
      ArrayBuffer.isView(key) &&
      ArrayBuffer.isView(value) &&
      key instanceof Uint8Array &&
      value instanceof Uint8Array &&
      key[fk - 1] !== undefined &&
      key[fk] === undefined &&
      value[fv - 1] !== undefined &&
      value[fv] === undefined
    ) {
      toBlock(value, BLOCK_VALUE, fv);
      const r = elemKeyed(Cmd.BPF_MAP_UPDATE_ELEM, this.#fd, key, fk, fv);
      if (r < 0) throw mapError('BPF_MAP_UPDATE_ELEM', -r, this, 0);
      return;
    }
    this.#updateChecked(key, value, flags);
  }

  /**
   * `update` for every case, on the option already read: the value is read (fd objects, per-CPU
   * arrays: user code may run) and copied first, then the key is checked, then `closed` (user
   * code may have closed the map and its number may name another object now), then one syscall.
   */
  #updateChecked(key: unknown, value: unknown, rawFlags: unknown): void {
    const flags = rawFlags === undefined ? 0 : checkFlags('flags', rawFlags);
    if (this.#noElements) this.#key(key); // says why there is nothing to update
    const v = this.#value(value);
    const k = this.#key(key);
    const fd = this.#live('BPF_MAP_UPDATE_ELEM');
    let r: number;
    if (this.#inBlock) {
      toBlock(v, BLOCK_VALUE, this.valueBufferSize);
      r = elemInBlock(Cmd.BPF_MAP_UPDATE_ELEM, fd, this.#stageKey(k), this.valueBufferSize, flags);
    } else {
      r = elem(Cmd.BPF_MAP_UPDATE_ELEM, fd, k, this.keySize, v, this.valueBufferSize, flags);
    }
    if (r < 0) throw mapError('BPF_MAP_UPDATE_ELEM', -r, this, flags);
  }

  /**
   * Deletes `key` (one syscall).
   * @returns false when the key was absent.
   * @throws {BpfError} EINVAL on arrays (elements cannot be deleted), EPERM.
   * @kernel 3.19
   */
  delete(key: Uint8Array): boolean {
    const fk = this.#fastKey;
    if (isBytesOf(key, fk) && !this.#undeletable) {
      const r = elemKeyed(Cmd.BPF_MAP_DELETE_ELEM, this.#fd, key, fk, -1);
      if (r === 0) return true;
      if (r === -ENOENT) return false;
      throw mapError('BPF_MAP_DELETE_ELEM', -r, this);
    }
    return this.#deleteChecked(key);
  }

  /** `delete` for every case. */
  #deleteChecked(key: Uint8Array): boolean {
    // Arguments, then what the map type allows, then the kernel.
    const fd = this.#live('BPF_MAP_DELETE_ELEM');
    const k = this.#key(key);
    if (this.#undeletable) throw mapError('BPF_MAP_DELETE_ELEM', EINVAL, this); // what the kernel says, without asking it
    const r = this.#inBlock
      ? elemInBlock(Cmd.BPF_MAP_DELETE_ELEM, fd, this.#stageKey(k), -1, 0)
      : elem(Cmd.BPF_MAP_DELETE_ELEM, fd, k, this.keySize, null, 0, 0);
    if (r === -ENOENT) return false;
    if (r < 0) throw mapError('BPF_MAP_DELETE_ELEM', -r, this);
    return true;
  }

  /**
   * Looks up `key` and deletes it in one step (hash maps since Linux 5.14; queue/stack: pop).
   * @returns the value, or `undefined` when absent.
   * @kernel 4.20 (queue/stack); 5.14 (hash maps)
   * @throws {BpfError} ENOTSUPP or EINVAL where the map type (or the kernel) has no lookup-and-delete; EBADF once the map is closed.
   */
  lookupAndDelete(key: Uint8Array | null, opts?: LookupOptions): MapValue | undefined {
    return this.#copyOut(Cmd.BPF_MAP_LOOKUP_AND_DELETE_ELEM, 'BPF_MAP_LOOKUP_AND_DELETE_ELEM', key, opts);
  }

  /**
   * The key after `key` in the kernel's order; with no key, the first key.
   * A key that is not in the map restarts at the first key (hash maps).
   * @returns the next key, or `undefined` at the end.
   * @kernel 3.19 (first key with no key 4.12)
   * @throws {TypeError|RangeError} when `key` is not key_size bytes. @throws {BpfError} EBADF once the map is closed.
   */
  getNextKey(key?: Uint8Array | null): Uint8Array | undefined {
    const fd = this.#live('BPF_MAP_GET_NEXT_KEY');
    const k = key === undefined || key === null ? null : checkBytes('key', key, this.keySize, "the map's key_size");
    const next = new Uint8Array(this.keySize);
    const r = this.#inBlock
      ? elemInBlock(Cmd.BPF_MAP_GET_NEXT_KEY, fd, this.#stageKey(k), this.keySize, 0)
      : elem(Cmd.BPF_MAP_GET_NEXT_KEY, fd, k, this.keySize, next, this.keySize, 0);
    if (r === -ENOENT) return undefined;
    if (r < 0) throw mapError('BPF_MAP_GET_NEXT_KEY', -r, this);
    return this.#inBlock ? fromBlock(next, BLOCK_VALUE, this.keySize) : next;
  }

  /**
   * Pushes `value` onto a queue or stack, or adds it to a bloom filter. `BPF_EXIST` overwrites the oldest when full. @kernel 4.20
   * @throws {TypeError} on maps with keys. @throws {BpfError} E2BIG when full (without `BPF_EXIST`); EBADF once the map is closed.
   */
  push(value: Uint8Array, opts?: UpdateOptions): void {
    push(this, this.#in(), value, opts);
  }

  /**
   * Removes and returns the head of a queue or stack, or `undefined` when empty. @kernel 4.20
   * @throws {TypeError} on maps with keys. @throws {BpfError} EBADF once the map is closed.
   */
  pop(): Uint8Array | undefined {
    return pop(this, this.#in());
  }

  /**
   * Returns the head of a queue or stack without removing it, or `undefined` when empty. @kernel 4.20
   * @throws {TypeError} on maps with keys. @throws {BpfError} EBADF once the map is closed.
   */
  peek(): Uint8Array | undefined;
  /**
   * Bloom filter: true when `value` is possibly present, false when certainly absent.
   * @throws {TypeError|RangeError} when `value` is not value_size bytes. @throws {BpfError} EBADF once the map is closed.
   */
  peek(value: Uint8Array): boolean;
  peek(value?: Uint8Array): Uint8Array | boolean | undefined {
    return peek(this, this.#in(), value);
  }

  /**
   * Keys. Hash and array maps are read with lookup batches (one syscall per
   * `BATCH_WALK_SIZE` elements); other types walk with get-next-key. Either way
   * one pass yields each key at most once and a key present for the whole pass
   * exactly once (see iterate.ts). Keys are views into a chunk's buffer: copy
   * one (`key.slice()`) to keep it past the pass without holding the chunk.
   */
  keys(): IterableIterator<Uint8Array> {
    return mapKeys(this, this.#in());
  }

  /**
   * `[key, value]` pairs: lookup batches on hash and array maps; elsewhere a
   * get-next-key walk plus one lookup per key (keys deleted meanwhile are
   * skipped). Keys and values are views into a chunk's buffers.
   */
  entries(): IterableIterator<[Uint8Array, MapValue]> {
    return mapEntries(this, this.#in());
  }

  /**
   * The raw chunks behind `entries()`: one `{ count, keys, values }` per
   * syscall on hash and array maps (`lookupBatch`), or gathered from a
   * get-next-key walk elsewhere, with the same one-pass guarantees. The
   * cheapest way to read a whole map.
   * @kernel 3.19 (batch commands 5.6; older kernels walk key by key)
   */
  chunks(opts?: BatchWalkOptions): IterableIterator<BatchChunk> {
    return mapChunks(this, this.#in(), opts);
  }

  /** `entries()`: every key with its value, read in batches where the map type has them. */
  [Symbol.iterator](): IterableIterator<[Uint8Array, MapValue]> {
    return this.entries();
  }

  // ---- Integers: little-endian, widths from the map (int-ops.ts) ----

  /**
   * Looks up an integer key and decodes the value as a little-endian unsigned integer.
   * @returns the value (per-CPU maps: one per possible CPU), or `undefined` when absent.
   * @throws {RangeError} when `key` does not fit the key width.
   */
  lookupInt(key: number | bigint, opts?: Omit<LookupOptions, 'out'>): bigint | bigint[] | undefined {
    const flags = opts?.flags; // read once, before the key is staged in the scratch
    this.#live('BPF_MAP_LOOKUP_ELEM');
    intWidth(this.valueSize, 'lookupInt');
    const s = this.#ints;
    const k = intKey(s, this.keySize, key, 'lookupInt');
    const out = intValue(s, this.valueBufferSize);
    const o = flags === undefined ? s.lookupOpts : { flags, out };
    if (this.lookup(k, o) === undefined) return undefined;
    const l = this.#layout;
    if (l === undefined) return readInt(s, 0, this.valueSize);
    const values = new Array<bigint>(l.cpus);
    for (let i = 0; i < l.cpus; i++) values[i] = readInt(s, i * l.stride, this.valueSize);
    return values;
  }

  /**
   * Stores integer `value` under integer `key` (per-CPU: one value for every CPU, or an array of one per CPU).
   * @throws {RangeError} when either does not fit its width (negative, too large, fractional, NaN).
   */
  updateInt(key: number | bigint, value: number | bigint | ReadonlyArray<number | bigint>, opts?: UpdateOptions): void {
    // Option and value first (user code may run reading them), the key into the scratch last.
    const o = ownOpts(opts);
    this.#live('BPF_MAP_UPDATE_ELEM');
    const size = this.valueSize;
    intWidth(size, 'updateInt');
    const v = Array.isArray(value)
      ? arrayElements('value', value).map((x, i) => encodeInt(x, size, `value[${i}]`))
      : encodeInt(value, size, 'value');
    this.update(intKey(this.#ints, this.keySize, key, 'updateInt'), v, o as UpdateOptions | undefined);
  }

  /**
   * Deletes an integer key; false when absent.
   * @throws {TypeError} when the key size is not 1 to 8 bytes. @throws {RangeError} when `key` does not fit it.
   * @throws {BpfError} EBADF once the map is closed.
   */
  deleteInt(key: number | bigint): boolean {
    this.#live('BPF_MAP_DELETE_ELEM');
    return this.delete(intKey(this.#ints, this.keySize, key, 'deleteInt'));
  }

  /**
   * The integer key after `key` (omitted: the first key), or `undefined` at the end.
   * @throws {TypeError} when the key size is not 1 to 8 bytes. @throws {RangeError} when `key` does not fit it.
   * @throws {BpfError} EBADF once the map is closed.
   */
  getNextKeyInt(key?: number | bigint): bigint | undefined {
    this.#live('BPF_MAP_GET_NEXT_KEY');
    const k = key === undefined ? undefined : intKey(this.#ints, this.keySize, key, 'getNextKeyInt');
    const next = this.getNextKey(k);
    return next === undefined ? undefined : decodeKey(next, this.keySize);
  }

  // ---- Structs and other codecs (record-ops.ts) ----

  /**
   * Looks up `keyBytes` and decodes the value with `type` (per-CPU: one record per CPU); `undefined` when absent.
   * @throws {RangeError} when `type` is not the value size. @throws {BpfError} EBADF once the map is closed.
   */
  lookupStruct<R>(keyBytes: Uint8Array | null, type: Codec<R>, opts?: Omit<LookupOptions, 'out'>): R | R[] | undefined {
    return lookupStruct(this, this.#in(), 'lookupStruct', keyBytes, false, type, opts);
  }

  /**
   * `lookupStruct` with an integer key.
   * @throws {RangeError} when `type` is not the value size. @throws {BpfError} EBADF once the map is closed.
   */
  lookupStructInt<R>(key: number | bigint, type: Codec<R>, opts?: Omit<LookupOptions, 'out'>): R | R[] | undefined {
    return lookupStruct(this, this.#in(), 'lookupStructInt', key, true, type, opts);
  }

  /**
   * Encodes `record` with `type` and stores it under `keyBytes`. Nothing is written when the record does not fit.
   * @throws {TypeError|RangeError} naming the field path (`flow.src[2]`).
   */
  updateStruct<R>(keyBytes: Uint8Array | null, record: R | readonly R[], type: Codec<R>, opts?: UpdateOptions): void {
    updateStruct(this, this.#in(), 'updateStruct', keyBytes, false, record, type, opts);
  }

  /**
   * `updateStruct` with an integer key.
   * @throws {TypeError|RangeError} when the record does not fit `type`. @throws {BpfError} as `update`.
   */
  updateStructInt<R>(key: number | bigint, record: R | readonly R[], type: Codec<R>, opts?: UpdateOptions): void {
    updateStruct(this, this.#in(), 'updateStructInt', key, true, record, type, opts);
  }

  /**
   * Deletes the key `keyRecord` encodes to with `type`; false when absent.
   * @throws {TypeError|RangeError} when the record does not fit `type`. @throws {BpfError} EBADF once the map is closed.
   */
  deleteStruct<R>(keyRecord: R, type: Codec<R>): boolean {
    return deleteStruct(this, this.#in(), keyRecord, type);
  }

  /**
   * The key after `keyRecord` (omitted: the first), decoded with `type`; `undefined` at the end.
   * @throws {RangeError} when `type` is not the key size. @throws {BpfError} EBADF once the map is closed.
   */
  getNextKeyStruct<R>(type: Codec<R>, keyRecord?: R): R | undefined {
    return getNextKeyStruct(this, this.#in(), type, keyRecord);
  }

  // ---- Typed views (typed-views.ts) ----

  /**
   * A `Map`-shaped view through codecs. With no arguments, the `key`/`value` codecs the map was created with,
   * or else the map's BTF (as `typedFromBtf()`).
   * On per-CPU maps `get` returns one value per possible CPU (see `typedPerCpu` for that typing).
   * @throws {RangeError} when a codec's size differs from the map's.
   * @throws {TypeError} with no codecs given, when the map has neither creation codecs nor BTF.
   */
  typed<TK = K, TV = V>(keyType?: Codec<TK>, valueType?: Codec<TV>): TypedMap<TK, TV> {
    return typedView(this, this.#in(), keyType, valueType);
  }

  /**
   * A typed view built from the BTF the map was created with (by this library,
   * libbpf, bpftool, …), so a foreign map reads as records with no definition.
   * See btf/codecs.ts for how C types map to JavaScript values.
   * @throws {TypeError} when the map has no BTF for its value (or its key).
   * @kernel 4.18 (map BTF)
   */
  typedFromBtf(): TypedMap<unknown, unknown> {
    return typedFromBtf(this, this.#in());
  }

  /** `typed()` for per-CPU maps (with no arguments, codecs or BTF as `typed()`), typed so that `get` returns `V[]`. @throws {TypeError} on other maps. */
  typedPerCpu<TK = K, TV = V>(keyType?: Codec<TK>, valueType?: Codec<TV>): PerCpuTypedMap<TK, TV> {
    if (!this.isPerCpu) throw new TypeError(`typedPerCpu() is for per-CPU maps; this is a ${this.#typeName()} map (use typed())`);
    return this.typed(keyType, valueType) as unknown as PerCpuTypedMap<TK, TV>;
  }

  // ---- Many elements per kernel entry (kernel-loop/) ----

  /**
   * Looks up `n` keys (`keys`: n × keySize bytes, back to back) in as few syscalls as the kernel
   * allows: a syscall program built for this map looks up each chunk of keys in one BPF_PROG_TEST_RUN
   * (hash, array, LRU and their per-CPU types; elsewhere, or when the kernel refuses the program,
   * one lookup per key, with the same results). Each key's result is what `lookup` would return for
   * it at that moment; absent keys' value slots are zeroed.
   * @returns `count` (keys found), `found` (n bytes, 1 where key i was present) and `values`
   *   (n × valueBufferSize bytes), in `opts.values`/`opts.found` when given.
   * @throws {RangeError} when `keys` is not a non-empty multiple of keySize, or `values`/`found` are
   *   not n values/n bytes. @throws {BpfError} EBADF once the map is closed.
   * @kernel 5.17 (bpf_loop in a sleepable syscall program; older kernels: one lookup per key)
   */
  lookupMany(keys: Uint8Array, opts?: LookupManyOptions): LookupManyResult {
    const s = this.#in();
    return lookupMany(this, s, s.loops(), keys, opts);
  }

  // ---- Batches (batch-walk.ts) ----

  /**
   * Walks the whole map in chunks with BPF_MAP_LOOKUP_BATCH (one syscall per chunk). Falls back to
   * get-next-key and lookups on map types or kernels without batch support.
   * @kernel 5.6
   */
  lookupBatch(opts?: BatchWalkOptions): IterableIterator<BatchChunk> {
    return walkBatch(this, this.#in(), false, opts);
  }

  /**
   * `lookupBatch` that deletes what it returns (BPF_MAP_LOOKUP_AND_DELETE_BATCH). @kernel 5.6
   * @throws {BpfError} EINVAL/ENOTSUPP on map types without batch deletes; EBADF once the map is closed.
   */
  lookupAndDeleteBatch(opts?: BatchWalkOptions): IterableIterator<BatchChunk> {
    return walkBatch(this, this.#in(), true, opts);
  }

  /**
   * Updates many elements in one syscall (BPF_MAP_UPDATE_BATCH), falling back to element updates
   * where batches are unsupported. `keys`/`values`: flat buffers, or arrays of per-element buffers
   * (per-CPU values: as `update` takes them).
   * @returns how many elements were applied.
   * @throws {BpfError} whose `count` says how many were applied before the failure; the rest are untouched.
   * @kernel 5.6
   */
  updateBatch(
    keys: Uint8Array | readonly Uint8Array[],
    values: Uint8Array | readonly UpdateValue[],
    opts?: UpdateOptions,
  ): number {
    return updateBatch(this, this.#in(), keys, values, opts);
  }

  /**
   * Deletes many keys in one syscall (BPF_MAP_DELETE_BATCH), falling back to element deletes where unsupported.
   * @returns how many were deleted. @throws {BpfError} ENOENT for a missing key, with `count` deleted before it.
   * @kernel 5.6
   */
  deleteBatch(keys: Uint8Array | readonly Uint8Array[]): number {
    return deleteBatch(this, this.#in(), keys);
  }

  /**
   * Pins the map at `path` on a bpffs, so it outlives this process (BPF_OBJ_PIN).
   * @throws {BpfError} EEXIST when the path exists, EPERM when not on bpffs.
   * @kernel 4.4
   */
  pin(path: string): void {
    const fd = this.#live('BPF_OBJ_PIN');
    checkPath('path', path);
    const r = objPin(fd, cPath(path));
    if (r < 0) throw mapError('BPF_OBJ_PIN', -r, this);
  }

  /**
   * Removes the pin at `path` (the map lives on while fds or other pins hold it).
   * @throws {Error} (ENOENT, …) from unlink(2) when nothing is pinned at `path`.
   */
  unpin(path: string): void {
    this.#live('BPF_OBJ_PIN');
    checkPath('path', path);
    unlinkSync(path);
  }

  /**
   * Freezes the map: later syscall writes fail with EPERM; BPF programs may still write (BPF_MAP_FREEZE, Linux 5.2+).
   * @throws {BpfError} EBUSY when already frozen or writably mmapped.
   * @kernel 5.2
   */
  freeze(): void {
    const fd = this.#live('BPF_MAP_FREEZE');
    const r = mapFreeze(fd);
    if (r < 0) throw mapError('BPF_MAP_FREEZE', -r, this);
  }

  /**
   * A live view of a `BPF_F_MMAPABLE` array's values (mmap(2), no syscall per
   * access): element `i` is at byte `i × roundUp(valueSize, 8)`. On an arena,
   * its `max_entries` pages (mapped once per process; pages appear as touched). Reads see
   * what programs write as they write it; writes are visible to programs.
   * The mapping lasts while the view is referenced (it keeps the map alive in
   * the kernel even after `close()`); `BpfMap.unmap(view)` releases it now.
   * @param opts.writable default true; false maps it read-only (needed on frozen or read-only maps)
   *   and returns a `ReadOnlyMapping` (reads and copies only) rather than a `Uint8Array`: a write
   *   through a typed array over read-only pages would kill the process.
   * @throws {TypeError} when the map is not an mmapable array. @throws {BpfError} EPERM for a writable view of a frozen map.
   * @kernel 5.5 (arrays; ring buffers 5.8, arenas 6.9)
   */
  mmap(opts?: { writable?: true }): Uint8Array;
  mmap(opts: { writable: false }): ReadOnlyMapping;
  mmap(opts?: { writable?: boolean }): Uint8Array | ReadOnlyMapping;
  mmap(opts: { writable?: boolean } = {}): Uint8Array | ReadOnlyMapping {
    return mapPages(this, this.#in(), opts.writable ?? true);
  }

  /**
   * Releases a view from `mmap()` now rather than at garbage collection: it becomes empty.
   * @throws {TypeError} when `mapping` is not a view `mmap()` returned.
   */
  static unmap(mapping: Uint8Array | ReadOnlyMapping): void {
    unmapPages(mapping);
  }

  /**
   * Reads the map's info from the kernel now (BPF_OBJ_GET_INFO_BY_FD). @kernel 4.13
   * @throws {BpfError} EBADF once the map is closed.
   */
  info(): MapInfo {
    return readMapInfo(this.#live('BPF_OBJ_GET_INFO_BY_FD'));
  }

  /**
   * Reads what /proc/self/fdinfo says about the map now: the memory it is charged for and whether it
   * is frozen (which `info()` does not report). @throws {BpfError} EBADF once the map is closed.
   */
  fdInfo(): MapFdInfo {
    return readMapFdInfo(this.#live('fdinfo'));
  }

  /** Closes the fd. Idempotent; the map itself lives on while pins, programs or other fds hold it. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    this.#fastKey = -1;
    this.#loops?.release();
    release(this, fd);
  }

  /** `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
