/**
 * The hint table: for a failed command and errno, what the user should check.
 * Hints use what we know of the map; a few read /proc/self/fdinfo, on the
 * error path only.
 */
import { BpfError, BpfUnsupportedError, errnoName } from '../errors.js';
import type { MapShape } from './shape.js';
import { hasTrait, mapTypeName, mapTypeTraits } from './traits.js';
import { O_RDONLY, O_WRONLY, fdAccessMode, fdInfoField } from '../sys/fd.js';
import { BPF_F_LOCK, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, MapType } from '../sys/uapi.js';

const PRIVILEGE =
  'needs root or CAP_BPF (CAP_SYS_ADMIN on kernels before 5.8); check `sysctl kernel.unprivileged_bpf_disabled` and any container or lockdown policy';

type Hint = (shape: MapShape | undefined, flags: number) => string | undefined;

const writeDenied: Hint = (m) => {
  if (!m) return PRIVILEGE;
  if (fdInfoField(m.fd, 'frozen') === '1') return 'the map is frozen: syscall writes are refused';
  if (fdAccessMode(m.fd) === O_RDONLY)
    return 'the map fd is read-only (BPF_F_RDONLY at creation or opening): syscall writes are refused';
  return PRIVILEGE;
};

const readDenied: Hint = (m) =>
  m && fdAccessMode(m.fd) === O_WRONLY
    ? 'the map fd is write-only (BPF_F_WRONLY at creation or opening): syscall reads are refused'
    : PRIVILEGE;

const lockHint: Hint = (m, flags) =>
  flags & BPF_F_LOCK
    ? 'BPF_F_LOCK needs a value type with a struct bpf_spin_lock described by BTF, and is not allowed on per-CPU maps'
    : m
      ? `flags or key/value not accepted by ${mapTypeName(m.type)}`
      : undefined;

const unsupported: Hint = (m) => (m ? `${mapTypeName(m.type)} does not support this operation from userspace` : undefined);

const TABLE: Record<string, Partial<Record<string, Hint>>> = {
  BPF_MAP_UPDATE_ELEM: {
    EPERM: writeDenied,
    E2BIG: (m) =>
      m && hasTrait(m.type, 'arrayLike')
        ? `index out of range: max_entries=${m.maxEntries}`
        : m
          ? `map full: max_entries=${m.maxEntries}`
          : 'map full',
    EEXIST: (m) =>
      m && hasTrait(m.type, 'arrayLike')
        ? 'BPF_NOEXIST on an array: every index always exists'
        : 'the key exists and BPF_NOEXIST was given',
    ENOENT: () => 'the key does not exist and BPF_EXIST was given',
    EINVAL: lockHint,
    EOPNOTSUPP: unsupported,
    ENOTSUPP: unsupported,
    EBADF: () => 'the value must hold an open fd of the kind this map stores',
  },
  BPF_MAP_UPDATE_BATCH: {
    EINVAL: () => 'batch updates take only BPF_F_LOCK in elemFlags; BPF_NOEXIST/BPF_EXIST need element updates',
    E2BIG: (m) => (m ? `map full: max_entries=${m.maxEntries}` : 'map full'),
    EPERM: writeDenied,
  },
  BPF_MAP_DELETE_BATCH: { ENOENT: () => 'a key in the batch is not in the map', EPERM: writeDenied },
  BPF_MAP_LOOKUP_BATCH: {
    ENOSPC: () => 'a hash bucket holds more elements than count: retry with a larger count',
    EPERM: readDenied,
  },
  BPF_MAP_LOOKUP_AND_DELETE_BATCH: {
    ENOSPC: () => 'a hash bucket holds more elements than count: retry with a larger count',
    EPERM: writeDenied,
  },
  BPF_MAP_LOOKUP_ELEM: { EPERM: readDenied, EINVAL: lockHint, EOPNOTSUPP: unsupported, ENOTSUPP: unsupported },
  BPF_MAP_LOOKUP_AND_DELETE_ELEM: {
    EPERM: writeDenied,
    EINVAL: lockHint,
    EOPNOTSUPP: unsupported,
    ENOTSUPP: unsupported,
  },
  BPF_MAP_DELETE_ELEM: {
    EPERM: writeDenied,
    EINVAL: (m) =>
      m && hasTrait(m.type, 'arrayLike') && !hasTrait(m.type, 'deletable')
        ? 'array elements cannot be deleted; write zeros instead'
        : unsupported(m, 0),
    E2BIG: (m) => (m ? `index out of range: max_entries=${m.maxEntries}` : undefined),
    EOPNOTSUPP: unsupported,
    ENOTSUPP: unsupported,
  },
  BPF_MAP_GET_NEXT_KEY: { EPERM: readDenied, EINVAL: unsupported, EOPNOTSUPP: unsupported, ENOTSUPP: unsupported },
  BPF_MAP_FREEZE: {
    EBUSY: (m) => (m && m.flags & BPF_F_MMAPABLE ? 'a writable mmap of the map exists' : 'the map is busy'),
    EPERM: writeDenied,
    EINVAL: unsupported,
    ENOTSUPP: unsupported,
  },
  BPF_OBJ_PIN: {
    EPERM: () => 'the path must be on a bpffs mount (mount -t bpf bpf /sys/fs/bpf); pinning needs CAP_BPF or root',
    ENOENT: () => 'the parent folder does not exist',
    EEXIST: () => 'a file already exists at that path',
  },
  BPF_OBJ_GET: {
    ENOENT: () => 'nothing is pinned at that path',
    EPERM: () => 'the path must be on a bpffs mount, and opening it needs read (or write) permission on the file',
    EACCES: () => 'no permission on the pinned file for the requested access',
  },
  BPF_MAP_GET_FD_BY_ID: { ENOENT: () => 'no map with that id (it may have been freed)', EPERM: () => 'needs CAP_SYS_ADMIN' },
};

const GENERIC: Partial<Record<string, Hint>> = {
  EPERM: () => PRIVILEGE,
  ENOMEM: () => 'the kernel could not allocate memory: check the memlock rlimit (kernels before 5.11) or the memory cgroup',
  EFAULT: () =>
    'the kernel needed more bytes than the map was created with: its fd may have been closed outside bpfmap (fs.closeSync(map.fd)) and the number reused by another object (an fd number names whatever was opened last; close maps with close()); if not, a buffer was smaller than the kernel needed, which is a bug in bpfmap: please report it',
  E2BIG: () => 'an argument is larger than the kernel accepts',
};

/** Builds the `BpfError` for `command` failing with `errno` on map `m`. */
export function mapError(command: string, errno: number, m?: MapShape, flags = 0, count?: number): BpfError {
  const code = errnoName(errno);
  const hint = (TABLE[command]?.[code] ?? GENERIC[code])?.(m, flags);
  return new BpfError(command, errno, { hint, count });
}

export interface CreateShape {
  type: MapType;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  hasInnerMap: boolean;
  hasBtf: boolean;
}

/** The arguments most likely to blame for EINVAL (or another errno) from BPF_MAP_CREATE. */
export function createError(errno: number, c: CreateShape): BpfError {
  const code = errnoName(errno);
  const t = c.type;
  const name = mapTypeName(t);
  if (code === 'EINVAL') {
    const suspects: string[] = [];
    const needKey = (n: number) => c.keySize !== n && suspects.push(`${name} needs key_size ${n} (got ${c.keySize})`);
    switch (t) {
      case MapType.Array:
      case MapType.PercpuArray:
      case MapType.ProgArray:
      case MapType.PerfEventArray:
      case MapType.CgroupArray:
      case MapType.ArrayOfMaps:
      case MapType.Devmap:
      case MapType.Cpumap:
      case MapType.Xskmap:
      case MapType.Sockmap:
        needKey(4);
        break;
      case MapType.Queue:
      case MapType.Stack:
      case MapType.BloomFilter:
        needKey(0);
        if (c.flags & BPF_F_NO_PREALLOC && t !== MapType.BloomFilter) suspects.push(`${name} does not take BPF_F_NO_PREALLOC`);
        break;
      case MapType.LpmTrie:
        if (!(c.flags & BPF_F_NO_PREALLOC)) suspects.push('BPF_MAP_TYPE_LPM_TRIE requires BPF_F_NO_PREALLOC in map_flags');
        if (c.keySize < 5 || c.keySize > 260) suspects.push(`LPM trie key_size must be 4 + 1..256 bytes (got ${c.keySize})`);
        break;
      case MapType.Ringbuf:
      case MapType.UserRingbuf:
        if (c.keySize || c.valueSize) suspects.push(`${name} needs key_size 0 and value_size 0`);
        if (c.maxEntries < 4096 || c.maxEntries & (c.maxEntries - 1))
          suspects.push(`${name} max_entries must be a power of 2 multiple of the page size (got ${c.maxEntries})`);
        break;
      case MapType.SkStorage:
      case MapType.InodeStorage:
      case MapType.TaskStorage:
      case MapType.CgrpStorage:
        if (!c.hasBtf) suspects.push(`${name} needs BTF for its value (btf_fd, btf_key_type_id, btf_value_type_id)`);
        if (c.maxEntries !== 0) suspects.push(`${name} needs max_entries 0`);
        if (!(c.flags & BPF_F_NO_PREALLOC)) suspects.push(`${name} requires BPF_F_NO_PREALLOC`);
        break;
      case MapType.StructOps:
        suspects.push(
          `${name} is created by a struct_ops loader: it needs btf.vmlinuxValueTypeId (the kernel struct's value type in vmlinux BTF), key_size 4, max_entries 1 and a value laid out as that type`,
        );
        break;
      case MapType.Arena:
        if (c.keySize || c.valueSize) suspects.push(`${name} needs key_size 0 and value_size 0`);
        if (!(c.flags & BPF_F_MMAPABLE)) suspects.push(`${name} requires BPF_F_MMAPABLE`);
        break;
      default:
    }
    if ((t === MapType.ArrayOfMaps || t === MapType.HashOfMaps) && !c.hasInnerMap)
      suspects.push(`${name} needs an inner map template (innerMap or innerMapFd)`);
    if (c.valueSize === 0 && ![MapType.Ringbuf, MapType.UserRingbuf, MapType.Arena].includes(t)) suspects.push('value_size is 0');
    if (c.maxEntries === 0 && !suspects.length) suspects.push('max_entries is 0');
    if (c.flags & BPF_F_MMAPABLE && t !== MapType.Array && t !== MapType.Arena)
      suspects.push('BPF_F_MMAPABLE is only for array and arena maps');
    if (!suspects.length) suspects.push('check map_type, the sizes and map_flags against what this map type accepts');
    const since = mapTypeTraits(t)?.since;
    if (since === undefined)
      return new BpfUnsupportedError('BPF_MAP_CREATE', errno, name, 'a newer release', { hint: suspects.join('; ') });
    return new BpfError('BPF_MAP_CREATE', errno, { hint: `${name}: ${suspects.join('; ')}` });
  }
  if (code === 'E2BIG')
    return new BpfError('BPF_MAP_CREATE', errno, { hint: 'key_size, value_size or max_entries is too large for this map type' });
  const hint = GENERIC[code]?.(undefined, 0);
  return new BpfError('BPF_MAP_CREATE', errno, { hint });
}
