/**
 * The option and value types of `BpfMap`'s element methods (`LookupOptions`, `UpdateOptions`,
 * `OpenOptions`, `MapValue`, `UpdateValue`), shared by `BpfMap`, `BpfMapLike` and the files beside
 * map.ts; re-exported by map.ts. Types only.
 */
import type { BpfProgram } from '../prog/program.js';
import type { BpfMap } from './map.js';

/** Options of lookups. */
export interface LookupOptions {
  /** `BPF_F_LOCK`, … */
  flags?: number;
  /** A buffer of exactly the value size (per-CPU: the whole per-CPU area) to fill and return. */
  out?: Uint8Array;
}

/** Options of updates. */
export interface UpdateOptions {
  /** `BPF_ANY` (default), `BPF_NOEXIST`, `BPF_EXIST`, optionally `| BPF_F_LOCK`. */
  flags?: number;
}

/** How `openPinned`/`fromId` open a map's fd. */
export interface OpenOptions {
  /** Open with `BPF_F_RDONLY`: syscall writes are refused. */
  readOnly?: boolean;
  /** Open with `BPF_F_WRONLY`: syscall reads are refused. */
  writeOnly?: boolean;
}

/** A value as lookups return it: bytes, or one `Uint8Array` per possible CPU on per-CPU maps. */
export type MapValue = Uint8Array | Uint8Array[];

/**
 * A `net.Socket` or `net.Server`, by shape: the declarations then compile without `@types/node`.
 * Its fd is the one libuv holds (the socket must be connected, or the server listening).
 */
export interface NetSocketLike {
  /** `net.Socket#address` / `net.Server#address`. */
  address(): unknown;
  /** `ref()` of the handle. */
  ref(): unknown;
  /** `unref()` of the handle. */
  unref(): unknown;
}

/**
 * A value as updates take it: bytes, one buffer per CPU, or (fd-valued maps) the kernel object
 * itself: a map (array/hash of maps), a program (prog array), a socket or server (sockmap, sockhash).
 */
export type UpdateValue = Uint8Array | readonly Uint8Array[] | BpfMap | BpfProgram | NetSocketLike;
