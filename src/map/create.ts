/**
 * `BpfMap.create`'s half that reaches the kernel: reading and checking the create options
 * (once, before any syscall), the BTF a map gets from its key/value codecs, and BPF_MAP_CREATE
 * with the create-time diagnosis of its errors.
 */
import { Btf, mapTypeBtf } from '../btf/load.js';
import type { Codec } from '../codec/codec.js';
import { mapCreate } from '../sys/bpf.js';
import { possibleCpus } from '../sys/cpu.js';
import { BPF_F_NUMA_NODE, MapType } from '../sys/uapi.js';
import { checkFd, checkMapName, checkU32, describeValue } from '../validate.js';
import { createError } from './hints.js';
import type { BpfMap } from './map.js';
import { isPerCpuType } from './shape.js';
import { hasTrait } from './traits.js';

/** A map's BTF description: the BTF object's fd and the key/value type ids in it. */
export interface MapBtf {
  fd: number;
  keyTypeId?: number;
  valueTypeId?: number;
  vmlinuxValueTypeId?: number;
}

/** What `BpfMap.create` takes: the BPF_MAP_CREATE attributes, or codecs that give the sizes. */
export interface MapCreateOptions<K = unknown, V = unknown> {
  type: MapType | number;
  /** Up to 15 of `A-Za-z0-9_.`; null or omitted for none. */
  name?: string | null;
  /** Key size in bytes (0 for queue, stack, bloom filter, ringbuf). */
  keySize?: number;
  /** Value size in bytes. */
  valueSize?: number;
  maxEntries: number;
  /** `BPF_F_*` map flags. */
  flags?: number;
  /** Template for array/hash of maps. */
  innerMap?: BpfMap;
  /** Template fd for array/hash of maps, where no `BpfMap` is at hand. */
  innerMapFd?: number;
  /** NUMA node to allocate on; sets `BPF_F_NUMA_NODE`. */
  numaNode?: number;
  /** `map_extra`: bloom filter hash count, arena address, … */
  mapExtra?: number | bigint;
  /** Offload device (`map_ifindex`). */
  ifindex?: number;
  btf?: MapBtf;
  /** Key codec: sets keySize and is the default key type of `typed()`. */
  key?: Codec<K>;
  /** Value codec: sets valueSize and is the default value type of `typed()`. */
  value?: Codec<V>;
}

/**
 * Creates the map `opts` describe and returns its fd (the caller adopts it). `innerMap` is the fd of
 * an inner-map template the caller took from a `BpfMap` (checked open), else `opts.innerMapFd` is read.
 * @throws {TypeError|RangeError} for bad options, before any syscall. @throws {BpfError} from BPF_MAP_CREATE.
 */
export function createMapFd(opts: MapCreateOptions<unknown, unknown>, innerMap: number | undefined): number {
  const type = checkU32('type', opts.type);
  if (type === MapType.Unspec) throw new RangeError('type must be a map type such as MapType.Hash, got 0 (BPF_MAP_TYPE_UNSPEC)');
  const keySize = sizeFrom('key', opts.keySize, opts.key, '(0 for queue, stack, bloom filter and ring buffer maps)');
  const valueSize = sizeFrom('value', opts.valueSize, opts.value, '');
  if (opts.maxEntries === undefined) throw new TypeError('maxEntries is required');
  const maxEntries = checkU32('maxEntries', opts.maxEntries);
  let flags = checkU32('flags', opts.flags ?? 0);
  const name = checkMapName(opts.name);
  let innerMapFd = 0;
  if (innerMap !== undefined) innerMapFd = innerMap;
  else if (opts.innerMapFd !== undefined) innerMapFd = checkFd('innerMapFd', opts.innerMapFd);
  let numaNode = 0;
  if (opts.numaNode !== undefined) {
    numaNode = checkU32('numaNode', opts.numaNode);
    flags |= BPF_F_NUMA_NODE;
  }
  const mapExtra = toU64('mapExtra', opts.mapExtra ?? 0);
  const ifindex = checkU32('ifindex', opts.ifindex ?? 0);
  let btf = opts.btf;
  if (btf !== undefined && (typeof btf !== 'object' || btf === null))
    throw new TypeError(`btf must be { fd, keyTypeId?, valueTypeId? }, got ${describeValue(btf)}`);
  // Codecs describe the key and value in BTF (field names in dumps; bpf_spin_lock for BPF_F_LOCK).
  let ownBtf: Btf | undefined;
  if (btf === undefined && (opts.key !== undefined || opts.value !== undefined) && hasTrait(type, 'btf')) {
    const t = mapTypeBtf(opts.key, opts.value, keySize, valueSize, { lpmTrie: type === MapType.LpmTrie });
    ownBtf = Btf.load(t.blob);
    btf = { fd: ownBtf.fd, keyTypeId: t.keyTypeId, valueTypeId: t.valueTypeId };
  }
  // Per-CPU sizes need the possible CPUs (a file read, which can fail with EMFILE): learn them
  // before the map exists rather than between its creation and its owner.
  if (isPerCpuType(type)) possibleCpus();
  let fd: number;
  try {
    fd = mapCreate({
      mapType: type,
      keySize,
      valueSize,
      maxEntries,
      mapFlags: flags >>> 0,
      innerMapFd,
      numaNode,
      name,
      mapIfindex: ifindex,
      btfFd: btf ? checkFd('btf.fd', btf.fd) : 0,
      btfKeyTypeId: btf ? checkU32('btf.keyTypeId', btf.keyTypeId ?? 0) : 0,
      btfValueTypeId: btf ? checkU32('btf.valueTypeId', btf.valueTypeId ?? 0) : 0,
      btfVmlinuxValueTypeId: btf ? checkU32('btf.vmlinuxValueTypeId', btf.vmlinuxValueTypeId ?? 0) : 0,
      mapExtra,
    });
  } finally {
    ownBtf?.close(); // the map holds its own reference
  }
  if (fd < 0)
    throw createError(-fd, {
      type,
      keySize,
      valueSize,
      maxEntries,
      flags,
      hasInnerMap: innerMapFd !== 0,
      hasBtf: btf !== undefined,
    });
  return fd;
}

function sizeFrom(side: 'key' | 'value', size: unknown, codec: Codec<unknown> | undefined, note: string): number {
  if (codec !== undefined) {
    if (typeof codec !== 'object' || codec === null || typeof codec.size !== 'number')
      throw new TypeError(`${side} must be a codec (defineStruct, u32, …), got ${describeValue(codec)}`);
    if (size !== undefined && size !== codec.size)
      throw new RangeError(`${side}Size ${String(size)} disagrees with the ${side} codec ${codec.name} (${codec.size} bytes)`);
    return codec.size;
  }
  if (size === undefined) throw new TypeError(`${side}Size is required${note ? ` ${note}` : ''}, or give a ${side} codec`);
  return checkU32(`${side}Size`, size);
}

function toU64(what: string, v: unknown): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what} must be an unsigned 64-bit integer, got ${v}`);
    return BigInt(v);
  }
  if (typeof v === 'bigint') {
    if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${what} must be an unsigned 64-bit integer, got ${v}`);
    return v;
  }
  throw new TypeError(`${what} must be a number or bigint, got ${describeValue(v)}`);
}
