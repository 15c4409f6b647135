/**
 * `BpfMap.mmap()` and `BpfMap.unmap()`: mapping an mmapable array's values or an arena's pages, and
 * `ReadOnlyMapping`, what `BpfMap.mmap({ writable: false })` returns.
 *
 * A read-only mapping must not be reachable through a `Uint8Array`: typed
 * arrays cannot be made read-only, so one write through a view of PROT_READ
 * pages kills the process with SIGSEGV (and bpf maps refuse MAP_PRIVATE, so
 * the pages cannot be copy-on-write either). This object keeps its view of
 * the pages private and offers reads and copies only; it is frozen, so there
 * is nothing to write to.
 */
import { BpfError, errnoName } from '../errors.js';
import { PAGE_SIZE, mmapFd, unmapBuffer } from '../sys/bpf.js';
import { roundUp8 } from '../sys/cpu.js';
import { BPF_F_MMAPABLE, MapType } from '../sys/uapi.js';
import { describeValue } from '../validate.js';
import type { MapInternals } from './internals.js';
import type { BpfMap } from './map.js';

const TOKEN: unique symbol = Symbol('ReadOnlyMapping');

/** The views behind mappings, for `BpfMap.unmap` (not exported from the package). */
const views = new WeakMap<ReadOnlyMapping, Uint8Array>();

/** A live, read-only view of a map's mmap()ed pages: reads see what programs write as they write it. */
export class ReadOnlyMapping {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;

  /** Not for direct use: see `BpfMap.mmap({ writable: false })`. */
  constructor(token: typeof TOKEN, bytes: Uint8Array) {
    if (token !== TOKEN) throw new TypeError('use BpfMap.mmap({ writable: false })');
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    views.set(this, bytes);
    Object.freeze(this);
  }

  /** Bytes in the view; 0 once released (`BpfMap.unmap`). */
  get length(): number {
    return this.#bytes.length;
  }

  /** Same as `length`, as on a typed array. */
  get byteLength(): number {
    return this.#bytes.length;
  }

  /** True once `BpfMap.unmap` released the mapping. */
  get released(): boolean {
    return this.#bytes.buffer.byteLength === 0;
  }

  /** The byte at `index` (negative: from the end), or undefined outside the view. */
  at(index: number): number | undefined {
    return this.#bytes.at(index);
  }

  /** A copy of bytes [start, end), as `Uint8Array.prototype.slice` takes them. */
  slice(start?: number, end?: number): Uint8Array {
    return this.#bytes.slice(start, end);
  }

  /**
   * Copies bytes [start, end) into `target` at `targetOffset` (nothing allocated).
   * @returns the number of bytes copied. @throws {RangeError} when they do not fit `target`.
   */
  copyTo(target: Uint8Array, targetOffset = 0, start = 0, end = this.#bytes.length): number {
    if (!(target instanceof Uint8Array)) throw new TypeError(`copyTo takes a Uint8Array target, got ${describeValue(target)}`);
    const part = this.#bytes.subarray(start, end);
    target.set(part, targetOffset);
    return part.length;
  }

  /**
   * Reads an unsigned 8-bit integer at byte `offset`.
   * @throws {RangeError} when `offset` is outside the mapping (no byte is read).
   * @throws {TypeError} once `BpfMap.unmap` released the mapping.
   */
  getUint8(offset: number): number {
    return this.#view.getUint8(offset);
  }
  /**
   * Reads a signed 8-bit integer at byte `offset`.
   * @throws {RangeError} when `offset` is outside the mapping (no byte is read).
   * @throws {TypeError} once `BpfMap.unmap` released the mapping.
   */
  getInt8(offset: number): number {
    return this.#view.getInt8(offset);
  }
  /** Little-endian unless `littleEndian` is false (as the kernel stores values on little-endian machines). */
  getUint16(offset: number, littleEndian = true): number {
    return this.#view.getUint16(offset, littleEndian);
  }
  /**
   * Reads a signed 16-bit integer at byte `offset`, little-endian unless `littleEndian` is false.
   * @throws {RangeError} when `offset` is outside the mapping (no byte is read).
   * @throws {TypeError} once `BpfMap.unmap` released the mapping.
   */
  getInt16(offset: number, littleEndian = true): number {
    return this.#view.getInt16(offset, littleEndian);
  }
  /**
   * Reads an unsigned 32-bit integer at byte `offset`, little-endian unless `littleEndian` is false.
   * @throws {RangeError} when `offset` is outside the mapping (no byte is read).
   * @throws {TypeError} once `BpfMap.unmap` released the mapping.
   */
  getUint32(offset: number, littleEndian = true): number {
    return this.#view.getUint32(offset, littleEndian);
  }
  /**
   * Reads a signed 32-bit integer at byte `offset`, little-endian unless `littleEndian` is false.
   * @throws {RangeError} when `offset` is outside the mapping (no byte is read).
   * @throws {TypeError} once `BpfMap.unmap` released the mapping.
   */
  getInt32(offset: number, littleEndian = true): number {
    return this.#view.getInt32(offset, littleEndian);
  }
  /**
   * Reads an unsigned 64-bit integer at byte `offset`, little-endian unless `littleEndian` is false.
   * @throws {RangeError} when `offset` is outside the mapping (no byte is read).
   * @throws {TypeError} once `BpfMap.unmap` released the mapping.
   */
  getBigUint64(offset: number, littleEndian = true): bigint {
    return this.#view.getBigUint64(offset, littleEndian);
  }
  /**
   * Reads a signed 64-bit integer at byte `offset`, little-endian unless `littleEndian` is false.
   * @throws {RangeError} when `offset` is outside the mapping (no byte is read).
   * @throws {TypeError} once `BpfMap.unmap` released the mapping.
   */
  getBigInt64(offset: number, littleEndian = true): bigint {
    return this.#view.getBigInt64(offset, littleEndian);
  }
  /**
   * Reads a 64-bit float at byte `offset`, little-endian unless `littleEndian` is false.
   * @throws {RangeError} when `offset` is outside the mapping (no byte is read).
   * @throws {TypeError} once `BpfMap.unmap` released the mapping.
   */
  getFloat64(offset: number, littleEndian = true): number {
    return this.#view.getFloat64(offset, littleEndian);
  }

  /** The bytes, in order (each read live). */
  *[Symbol.iterator](): IterableIterator<number> {
    const b = this.#bytes;
    for (let i = 0; i < b.length; i++) yield b[i] as number;
  }
}

/** Wraps the view of a read-only mapping. */
export function readOnlyMapping(bytes: Uint8Array): ReadOnlyMapping {
  return new ReadOnlyMapping(TOKEN, bytes);
}

/** The private view behind a `ReadOnlyMapping`, for releasing it; undefined for anything else. */
export function mappingBytes(m: unknown): Uint8Array | undefined {
  return typeof m === 'object' && m !== null ? views.get(m as ReadOnlyMapping) : undefined;
}

/** `BpfMap.mmap`: the map's values (an mmapable array) or pages (an arena), writable or read-only. */
export function mapPages(map: BpfMap, s: MapInternals, writable: boolean): Uint8Array | ReadOnlyMapping {
  const fd = s.live('mmap');
  const arena = map.type === MapType.Arena;
  if (!arena && (map.type !== MapType.Array || !(map.flags & BPF_F_MMAPABLE)))
    throw new TypeError(
      `mmap() needs an array map created with BPF_F_MMAPABLE, or an arena; this is a ${s.typeName()} map${map.type === MapType.Array ? ' without that flag' : ''}`,
    );
  // An arena is max_entries pages, allocated as they are first touched.
  const len = arena ? map.maxEntries * PAGE_SIZE : roundUp8(map.valueSize) * map.maxEntries;
  const mapLen = Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  const r = mmapFd(fd, mapLen, 0, writable);
  if (typeof r === 'number') {
    const name = errnoName(-r);
    const hint =
      name === 'EPERM' && writable
        ? 'a writable mapping of a frozen or read-only map is refused: pass { writable: false }'
        : name === 'EACCES'
          ? 'the map was opened without the access this mapping needs (read-only or write-only fd)'
          : name === 'EINVAL' && arena
            ? 'an arena is mapped once: its first mapping fixes its address in this process'
            : undefined;
    throw new BpfError('mmap', -r, { hint });
  }
  const view = new Uint8Array(r, 0, len);
  return writable ? view : readOnlyMapping(view);
}

/** `BpfMap.unmap`: releases a view `mapPages` returned now (it becomes empty). */
export function unmapPages(mapping: Uint8Array | ReadOnlyMapping): void {
  const view = mapping instanceof Uint8Array ? mapping : mappingBytes(mapping);
  if (view === undefined) throw new TypeError(`unmap takes a view from mmap(), got ${describeValue(mapping)}`);
  if (view.buffer.byteLength === 0) return; // already released
  if (!unmapBuffer(view.buffer as ArrayBuffer)) throw new TypeError('unmap takes a view from mmap(); this one is not');
}
