/**
 * What each map type is able to do: the one table every layer asks (element
 * checks, per-CPU packing, batch walks, BTF at create, fd-valued updates, the
 * hints, the CLI). A new map type is one row here.
 */
import { MAP_TYPE_NAMES, MapType } from '../sys/uapi.js';

/** The kind of kernel object an fd-valued map stores (see {@link MapTypeTraits.fdValue}). */
export type FdValueKind = 'program' | 'map' | 'socket' | 'xsk-socket' | 'perf-event' | 'cgroup';

/** What a map type is able to do, as {@link mapTypeTraits} returns it. */
export interface MapTypeTraits {
  readonly type: MapType;
  /** The kernel's name: `BPF_MAP_TYPE_PERCPU_HASH`. */
  readonly name: string;
  /** bpftool's spelling: `percpu_hash`. */
  readonly shortName: string;
  /** Values are one slot per possible CPU (`roundUp(valueSize, 8)` bytes each). */
  readonly perCpu: boolean;
  /** Every index below `max_entries` exists (keys are u32 indices). */
  readonly arrayLike: boolean;
  /** No keys: push/pop/peek (queue, stack), bloom filters, rings and arenas. */
  readonly keyless: boolean;
  /** No element operations from userspace at all (ring buffers, arenas). */
  readonly noElements: boolean;
  /** Elements can be deleted from userspace (false for arrays: their elements always exist). */
  readonly deletable: boolean;
  /**
   * Lookup batches never yield a key twice in one pass, even under concurrent writers: hash maps
   * batch bucket by bucket, array cursors are indices. Other types' batches are get-next-key walks
   * inside the kernel, which restart from the first key when their cursor key is deleted.
   */
  readonly batchWalk: boolean;
  /** Values are fds of this kind of kernel object (prog arrays, maps of maps, sockmaps, …). */
  readonly fdValue: FdValueKind | undefined;
  /** Accepts BTF for its key and value at create (others: fd arrays, perf event arrays, devmaps, … refuse it). */
  readonly btf: boolean;
  /** The first Linux release with this map type. */
  readonly since: string;
}

type Row = [since: string, flags: string, fdValue?: FdValueKind];

/**
 * Flags: `c` per-CPU, `a` array-like, `k` keyless, `n` no element operations, `u` undeletable,
 * `w` batch walk without repeats, `b` BTF allowed.
 */
const ROWS: Readonly<Record<Exclude<MapType, MapType.Unspec>, Row>> = {
  [MapType.Hash]: ['3.19', 'wb'],
  [MapType.Array]: ['3.19', 'auwb'],
  [MapType.ProgArray]: ['4.2', 'a', 'program'],
  [MapType.PerfEventArray]: ['4.3', 'a', 'perf-event'],
  [MapType.PercpuHash]: ['4.6', 'cwb'],
  [MapType.PercpuArray]: ['4.6', 'cauwb'],
  [MapType.StackTrace]: ['4.6', ''],
  [MapType.CgroupArray]: ['4.8', 'a', 'cgroup'],
  [MapType.LruHash]: ['4.10', 'wb'],
  [MapType.LruPercpuHash]: ['4.10', 'cwb'],
  [MapType.LpmTrie]: ['4.11', 'b'],
  [MapType.ArrayOfMaps]: ['4.12', 'a', 'map'],
  [MapType.HashOfMaps]: ['4.12', '', 'map'],
  [MapType.Devmap]: ['4.14', ''],
  [MapType.Sockmap]: ['4.14', '', 'socket'],
  [MapType.Cpumap]: ['4.15', ''],
  [MapType.Xskmap]: ['4.18', '', 'xsk-socket'],
  [MapType.Sockhash]: ['4.18', '', 'socket'],
  [MapType.CgroupStorage]: ['4.19', 'ub'],
  [MapType.ReuseportSockarray]: ['4.19', '', 'socket'],
  [MapType.PercpuCgroupStorage]: ['4.20', 'cub'],
  [MapType.Queue]: ['4.20', 'k'],
  [MapType.Stack]: ['4.20', 'k'],
  [MapType.SkStorage]: ['5.2', 'b'],
  [MapType.DevmapHash]: ['5.4', ''],
  [MapType.StructOps]: ['5.6', ''],
  [MapType.Ringbuf]: ['5.8', 'kn'],
  [MapType.InodeStorage]: ['5.10', 'b'],
  [MapType.TaskStorage]: ['5.11', 'b'],
  [MapType.BloomFilter]: ['5.16', 'k'],
  [MapType.UserRingbuf]: ['6.1', 'kn'],
  [MapType.CgrpStorage]: ['6.2', 'b'],
  [MapType.Arena]: ['6.9', 'kn'],
};

const TRAITS: ReadonlyMap<number, MapTypeTraits> = new Map(
  Object.entries(ROWS).map(([t, [since, f, fdValue]]) => {
    const type = Number(t) as MapType;
    const name = MAP_TYPE_NAMES[type] ?? `BPF_MAP_TYPE_${type}`;
    const traits: MapTypeTraits = Object.freeze({
      type,
      name,
      shortName: name.slice('BPF_MAP_TYPE_'.length).toLowerCase(),
      perCpu: f.includes('c'),
      arrayLike: f.includes('a'),
      keyless: f.includes('k'),
      noElements: f.includes('n'),
      deletable: !f.includes('u') && !f.includes('n'),
      batchWalk: f.includes('w'),
      fdValue,
      btf: f.includes('b'),
      since,
    });
    return [type, traits];
  }),
);

/**
 * Says what a map type is able to do: per-CPU values, array-like indices, keyless, deletable
 * elements, repeat-free batch walks, fd values, BTF at create, and the first kernel with it.
 * @returns the traits, or `undefined` for a type this library does not know (newer than it).
 */
export function mapTypeTraits(type: number): MapTypeTraits | undefined {
  return TRAITS.get(type);
}

/** The kernel's name of a map type (`BPF_MAP_TYPE_HASH`), or `map type 99` for one the library does not know. */
export function mapTypeName(type: number): string {
  return TRAITS.get(type)?.name ?? MAP_TYPE_NAMES[type] ?? `map type ${type}`;
}

/** True when `type` is known and `trait` holds for it. */
export function hasTrait(
  type: number,
  trait: 'perCpu' | 'arrayLike' | 'keyless' | 'noElements' | 'deletable' | 'batchWalk' | 'btf',
): boolean {
  return TRAITS.get(type)?.[trait] === true;
}
