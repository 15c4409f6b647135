/** What an element operation needs to know about a map: its fd, type and sizes. */
import { possibleCpus, roundUp8 } from '../sys/cpu.js';
import type { MapInfo } from './info.js';
import { MAP_TYPE_NAMES, MapType } from '../sys/uapi.js';

export interface MapShape {
  readonly fd: number;
  readonly type: MapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly isPerCpu: boolean;
  /** Bytes a lookup writes: `valueSize`, or `roundUp(valueSize, 8) × possibleCpus()` for per-CPU maps. */
  readonly valueBufferSize: number;
}

const PER_CPU: ReadonlySet<MapType> = new Set([
  MapType.PercpuHash,
  MapType.PercpuArray,
  MapType.LruPercpuHash,
  MapType.PercpuCgroupStorage,
]);

/** Map types whose values are one slot per possible CPU. */
export function isPerCpuType(type: MapType): boolean {
  return PER_CPU.has(type);
}

/** Bytes of a whole value as the syscalls read and write it. */
export function valueBufferSize(type: MapType, valueSize: number): number {
  return isPerCpuType(type) ? roundUp8(valueSize) * possibleCpus() : valueSize;
}

export function shapeOf(fd: number, info: MapInfo): MapShape {
  return {
    fd,
    type: info.type,
    keySize: info.keySize,
    valueSize: info.valueSize,
    maxEntries: info.maxEntries,
    flags: info.flags,
    isPerCpu: isPerCpuType(info.type),
    valueBufferSize: valueBufferSize(info.type, info.valueSize),
  };
}

/** `BPF_MAP_TYPE_HASH` for 1; `map type 99` for values the library does not know. */
export function mapTypeName(type: number): string {
  return MAP_TYPE_NAMES[type] ?? `map type ${type}`;
}

/** Array-like types: every index below max_entries exists; elements cannot be deleted. */
export const ARRAY_TYPES: ReadonlySet<MapType> = new Set([
  MapType.Array,
  MapType.PercpuArray,
  MapType.PerfEventArray,
  MapType.CgroupArray,
  MapType.ArrayOfMaps,
  MapType.ProgArray,
]);
