/** `MapInfo`: what the kernel says about a map (BPF_OBJ_GET_INFO_BY_FD), and `listMaps`. */
import { BpfError, errnoNumber } from '../errors.js';
import { closeFd, objGetInfo } from '../sys/bpf.js';
import { fdById, listIds } from '../sys/ids.js';
import { fdInfoField, fdKind } from '../sys/fd.js';
import { MapInfoLayout as I } from '../sys/layout.js';
import type { MapType } from '../sys/uapi.js';
import { checkFd } from '../validate.js';

/** A map's `bpf_map_info` (BPF_OBJ_GET_INFO_BY_FD), as `BpfMap.info()` and `listMaps()` return it. */
export interface MapInfo {
  /** Kernel-wide map id. */
  id: number;
  type: MapType;
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** `map_flags` given at creation (`BPF_F_*`). */
  flags: number;
  /** Offload device, 0 when none. */
  ifindex: number;
  /** BTF object id, 0 when the map has no BTF. */
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  btfVmlinuxValueTypeId: number;
  netnsDev: bigint;
  netnsIno: bigint;
  mapExtra: bigint;
}

const latin1 = new TextDecoder('latin1');

/** Decodes a filled `struct bpf_map_info`. */
export function decodeMapInfo(b: Uint8Array): MapInfo {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u32 = (o: number) => v.getUint32(o, true);
  const nameBytes = b.subarray(I.name, I.name + 16);
  const nul = nameBytes.indexOf(0);
  return {
    id: u32(I.id),
    type: u32(I.type),
    name: latin1.decode(nameBytes.subarray(0, nul < 0 ? 16 : nul)),
    keySize: u32(I.keySize),
    valueSize: u32(I.valueSize),
    maxEntries: u32(I.maxEntries),
    flags: u32(I.mapFlags),
    ifindex: u32(I.ifindex),
    btfId: u32(I.btfId),
    btfKeyTypeId: u32(I.btfKeyTypeId),
    btfValueTypeId: u32(I.btfValueTypeId),
    btfVmlinuxValueTypeId: u32(I.btfVmlinuxValueTypeId),
    netnsDev: v.getBigUint64(I.netnsDev, true),
    netnsIno: v.getBigUint64(I.netnsIno, true),
    mapExtra: v.getBigUint64(I.mapExtra, true),
  };
}

/**
 * Checks that `fd` is an open BPF map fd, for `command`'s errors.
 * @throws {BpfError} EBADF when it is not open. @throws {TypeError} when it is another kind of fd.
 */
export function requireMapFd(fd: unknown, command: string): number {
  checkFd('fd', fd);
  const n = fd as number;
  const kind = fdKind(n);
  if (kind === undefined) throw new BpfError(command, errnoNumber('EBADF'), { hint: `fd ${n} is not open` });
  if (kind !== 'bpf-map') throw new TypeError(`fd ${n} is ${kind}, not a BPF map`);
  return n;
}

/** Reads the info of the map behind `fd`; throws `BpfError` on failure. @kernel 4.13 */
export function readMapInfo(fd: number): MapInfo {
  const buf = new Uint8Array(I.SIZE);
  const { ret } = objGetInfo(fd, buf);
  if (ret < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -ret, { hint: `fd ${fd}` });
  return decodeMapInfo(buf);
}

/**
 * Lists every BPF map on the system (needs CAP_SYS_ADMIN). Maps that vanish
 * while listing are skipped. Several syscalls per map.
 * @throws {BpfError} EPERM without privileges.
 * @kernel 4.13
 */
export function listMaps(): MapInfo[] {
  const out: MapInfo[] = [];
  for (const id of listIds('map')) {
    const fd = fdById('map', id, true);
    if (fd === undefined) continue; // gone meanwhile
    try {
      out.push(readMapInfo(fd));
    } finally {
      closeFd(fd);
    }
  }
  return out;
}

/** The ids of every map on the system, in order (BPF_MAP_GET_NEXT_ID; needs CAP_SYS_ADMIN). @kernel 4.13 */
export function listMapIds(): number[] {
  return listIds('map');
}

/** What `/proc/self/fdinfo` says about a map fd that `bpf_map_info` does not: see `BpfMap.fdInfo()`. */
export interface MapFdInfo {
  /** Bytes of memory the map is charged for (`memlock`), 0 when the kernel does not say. */
  memlock: number;
  /** The map is frozen (BPF_MAP_FREEZE): syscall writes are refused. */
  frozen: boolean;
}

/** Reads `memlock` and `frozen` from /proc/self/fdinfo/<fd>. */
export function readMapFdInfo(fd: number): MapFdInfo {
  return { memlock: Number(fdInfoField(fd, 'memlock') ?? 0), frozen: fdInfoField(fd, 'frozen') === '1' };
}
