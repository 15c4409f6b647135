/** What an element operation needs to know about a map: its fd, type and sizes. */
import type { MapInfo } from './info.js';
import type { MapType } from '../sys/uapi.js';
import { hasTrait } from './traits.js';
import { perCpuLayout } from './values.js';

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

/** Map types whose values are one slot per possible CPU. */
export function isPerCpuType(type: MapType): boolean {
  return hasTrait(type, 'perCpu');
}

/** Bytes of a whole value as the syscalls read and write it. */
export function valueBufferSize(type: MapType, valueSize: number): number {
  if (!isPerCpuType(type)) return valueSize;
  const l = perCpuLayout(valueSize);
  return l.cpus * l.stride;
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
