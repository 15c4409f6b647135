/**
 * One table of what each map type `FakeMap` models does from userspace: its store, what it
 * accepts at creation, which operations the kernel refuses (and with which errno), and which
 * batch commands the kernel implements for it (the others `BpfMap` emulates element by element,
 * and so does the fake, with the element commands' errors).
 */
import {
  BPF_F_INNER_MAP,
  BPF_F_MMAPABLE,
  BPF_F_NO_COMMON_LRU,
  BPF_F_NO_PREALLOC,
  BPF_F_NUMA_NODE,
  BPF_F_RDONLY,
  BPF_F_RDONLY_PROG,
  BPF_F_WRONLY,
  BPF_F_WRONLY_PROG,
  BPF_F_ZERO_SEED,
  type ErrnoCode,
  MapType,
} from '../index.js';
import { ArrayStore, BloomStore, HashStore, LpmStore, QueueStore, type Store } from './stores.js';

/** The sizes a store is built for. */
export interface StoreShape {
  readonly keySize: number;
  readonly valueBufferSize: number;
  readonly maxEntries: number;
}

/** What one map type does. */
export interface TypeTraits {
  /** Values are one slot per possible CPU. */
  readonly perCpu: boolean;
  /** Keys are u32 indices below max_entries; elements cannot be deleted. */
  readonly arrayKeyed: boolean;
  /** The key size the type requires, or [min, max]; undefined: any non-zero size. */
  readonly keySize?: number | readonly [number, number];
  /** Map flags accepted at creation (BPF_F_RDONLY/WRONLY and the _PROG pair on every type). */
  readonly createFlags: number;
  /** BPF_F_NO_PREALLOC: 'required', or the errno when given (undefined: allowed). */
  readonly noPrealloc?: 'required' | ErrnoCode;
  /** A value with a `bpf_spin_lock` (and so `BPF_F_LOCK`) is allowed. */
  readonly lockable: boolean;
  /** BPF_MAP_LOOKUP_AND_DELETE_ELEM: supported (undefined) or this errno. */
  readonly lookupAndDelete?: ErrnoCode;
  /** No keys: update/lookup/lookupAndDelete take a null key (queue, stack, bloom filter). */
  readonly keyless: boolean;
  /** Batch commands the kernel implements for the type; the rest fall back to element commands. */
  readonly batch: {
    readonly lookup: boolean;
    readonly lookupAndDelete: boolean;
    readonly update: boolean;
    readonly delete: boolean;
  };
  /** keys()/entries() read with lookup batches rather than get-next-key (what `BpfMap` does). */
  readonly batchWalk: boolean;
  /** A fresh, empty store. */
  store(shape: StoreShape): Store;
}

const ACCESS = BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
const HASH_FLAGS = ACCESS | BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ZERO_SEED;
const ALL_BATCH = { lookup: true, lookupAndDelete: true, update: true, delete: true } as const;
const ARRAY_BATCH = { lookup: true, lookupAndDelete: false, update: true, delete: false } as const;
const NO_BATCH = { lookup: false, lookupAndDelete: false, update: false, delete: false } as const;

function hash(perCpu: boolean, lru: boolean): TypeTraits {
  return {
    perCpu,
    arrayKeyed: false,
    createFlags: HASH_FLAGS | (lru ? BPF_F_NO_COMMON_LRU : 0),
    ...(lru ? { noPrealloc: 'ENOTSUPP' as const } : {}),
    lockable: !perCpu && !lru,
    keyless: false,
    batch: ALL_BATCH,
    batchWalk: true,
    store: (s) => new HashStore(s.maxEntries, lru),
  };
}

function array(perCpu: boolean): TypeTraits {
  return {
    perCpu,
    arrayKeyed: true,
    keySize: 4,
    createFlags: ACCESS | BPF_F_NUMA_NODE | BPF_F_INNER_MAP | (perCpu ? 0 : BPF_F_MMAPABLE),
    noPrealloc: 'EINVAL',
    lockable: !perCpu,
    lookupAndDelete: 'ENOTSUPP',
    keyless: false,
    batch: ARRAY_BATCH,
    batchWalk: true,
    store: (s) => new ArrayStore(s.maxEntries, s.valueBufferSize),
  };
}

function queue(lifo: boolean): TypeTraits {
  return {
    perCpu: false,
    arrayKeyed: false,
    keySize: 0,
    createFlags: ACCESS | BPF_F_NUMA_NODE,
    noPrealloc: 'EINVAL',
    lockable: false,
    keyless: true,
    batch: NO_BATCH,
    batchWalk: false,
    store: (s) => new QueueStore(s.maxEntries, lifo),
  };
}

/** The map types `FakeMap` models. */
export const TYPES: ReadonlyMap<number, TypeTraits> = new Map<number, TypeTraits>([
  [MapType.Hash, hash(false, false)],
  [MapType.PercpuHash, hash(true, false)],
  [MapType.LruHash, hash(false, true)],
  [MapType.LruPercpuHash, hash(true, true)],
  [MapType.Array, array(false)],
  [MapType.PercpuArray, array(true)],
  [MapType.Queue, queue(false)],
  [MapType.Stack, queue(true)],
  [
    MapType.BloomFilter,
    {
      perCpu: false,
      arrayKeyed: false,
      keySize: 0,
      createFlags: ACCESS | BPF_F_NUMA_NODE | BPF_F_ZERO_SEED,
      noPrealloc: 'EINVAL',
      lockable: false,
      lookupAndDelete: 'ENOTSUPP',
      keyless: true,
      batch: NO_BATCH,
      batchWalk: false,
      store: () => new BloomStore(),
    },
  ],
  [
    MapType.LpmTrie,
    {
      perCpu: false,
      arrayKeyed: false,
      keySize: [5, 260],
      createFlags: ACCESS | BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE,
      noPrealloc: 'required',
      lockable: false,
      lookupAndDelete: 'ENOTSUPP',
      keyless: false,
      batch: { lookup: true, lookupAndDelete: false, update: true, delete: true },
      batchWalk: false,
      store: (s) => new LpmStore(s.maxEntries, s.keySize),
    },
  ],
]);
