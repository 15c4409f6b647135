/**
 * Whole map values: the per-CPU layout (written here once, used by `BpfMap`,
 * its int and struct helpers and `TypedMap`), and encoding a record (or one
 * per CPU) into a whole value. Codecs call the record's getters: callers
 * encode before any key is staged, and give a nested call (a getter that uses
 * the same map) a buffer of its own.
 */
import { type Codec, rootPath, viewOf } from '../codec/codec.js';
import { possibleCpus, roundUp8 } from '../sys/cpu.js';
import type { MapShape } from './shape.js';
import { arrayElements, bytesLength, checkBytes, describeValue } from '../validate.js';

/**
 * How the kernel lays out a per-CPU value: one slot per possible CPU, slot `i` at `i × stride`
 * (`stride` is `size` rounded up to 8), `size` bytes used in each; `cpus × stride` bytes in all.
 */
export interface PerCpuLayout {
  readonly cpus: number;
  readonly stride: number;
  readonly size: number;
}

/** The per-CPU layout of values of `valueSize` bytes on this machine. */
export function perCpuLayout(valueSize: number): PerCpuLayout {
  return { cpus: possibleCpus(), stride: roundUp8(valueSize), size: valueSize };
}

/** Views of each CPU's slot of a whole per-CPU value (no copies). */
export function perCpuSlots(buf: Uint8Array, l: PerCpuLayout): Uint8Array[] {
  const out = new Array<Uint8Array>(l.cpus);
  for (let i = 0; i < l.cpus; i++) out[i] = buf.subarray(i * l.stride, i * l.stride + l.size);
  return out;
}

/** Writes `parts[i]` (each `l.size` bytes, checked by the caller) into CPU `i`'s slot of `buf`. */
export function packPerCpu(buf: Uint8Array, l: PerCpuLayout, parts: readonly Uint8Array[]): Uint8Array {
  for (let i = 0; i < l.cpus; i++) buf.set(parts[i] as Uint8Array, i * l.stride);
  return buf;
}

/** Writes `one` (`l.size` bytes) into every CPU's slot of `buf`. */
export function fillPerCpu(buf: Uint8Array, l: PerCpuLayout, one: Uint8Array): Uint8Array {
  for (let i = 0; i < l.cpus; i++) buf.set(one, i * l.stride);
  return buf;
}

/** Reads every CPU's slot of the whole value at `offset` of `view` with `codec`. */
export function readPerCpu<T>(view: DataView, offset: number, l: PerCpuLayout, codec: Pick<Codec<T>, 'read'>): T[] {
  const out = new Array<T>(l.cpus);
  for (let i = 0; i < l.cpus; i++) out[i] = codec.read(view, offset + i * l.stride);
  return out;
}

/** Encodes `record` into `buf` (`m.valueBufferSize` bytes, zeroed first so padding is zero) and returns it. */
export function encodeValueInto<R>(
  buf: Uint8Array,
  m: Pick<MapShape, 'isPerCpu' | 'valueSize'>,
  record: R | readonly R[],
  type: Codec<R>,
  view: DataView = viewOf(buf),
): Uint8Array {
  buf.fill(0);
  if (!m.isPerCpu) {
    type.write(view, 0, record, rootPath(type));
    return buf;
  }
  const perCpu = Array.isArray(record) && (type.kind !== 'array' || Array.isArray(record[0]) || ArrayBuffer.isView(record[0]));
  const l = perCpuLayout(m.valueSize);
  if (perCpu) {
    const list = arrayElements('value', record as readonly R[]) as R[];
    if (list.length !== l.cpus)
      throw new RangeError(`a per-CPU value needs one record per possible CPU: expected ${l.cpus}, got ${list.length}`);
    for (let i = 0; i < l.cpus; i++) type.write(view, i * l.stride, list[i], `value[${i}]`);
  } else {
    type.write(view, 0, record, 'value');
    for (let i = 1; i < l.cpus; i++) buf.copyWithin(i * l.stride, 0, l.size);
  }
  return buf;
}

/** The update options as the library's own object: `flags` read once (undefined when there are none). */
export function ownOpts(opts: { flags?: number } | undefined): { flags: unknown } | undefined {
  const flags = opts?.flags;
  return flags === undefined ? undefined : { flags };
}

/**
 * The whole per-CPU value an update sends: `value` itself when it is laid out as the kernel does,
 * else packed into `stage` (valueBufferSize bytes, zeroed first so padding is zero) from one buffer
 * per CPU or one buffer copied to every CPU. Every element is read once and checked before `stage`
 * is touched. @throws {TypeError|RangeError} naming what a per-CPU value may be.
 */
export function perCpuValue(
  m: Pick<MapShape, 'valueSize' | 'valueBufferSize'>,
  l: PerCpuLayout,
  value: unknown,
  stage: Uint8Array,
): Uint8Array {
  const ncpu = l.cpus;
  if (Array.isArray(value)) {
    // Every element read once (getters, proxy traps) and checked before the scratch is touched.
    const list = arrayElements('value', value);
    if (list.length !== ncpu)
      throw new RangeError(`a per-CPU value needs one buffer per possible CPU: expected ${ncpu}, got ${list.length}`);
    for (let i = 0; i < ncpu; i++) checkBytes(`value[${i}]`, list[i], m.valueSize, "the map's value_size");
    return packPerCpu(stage.fill(0), l, list as Uint8Array[]);
  }
  const n = bytesLength(value);
  if (n === m.valueBufferSize) return value as Uint8Array;
  if (n === m.valueSize) return fillPerCpu(stage.fill(0), l, value as Uint8Array);
  if (n >= 0)
    checkBytes(
      'value',
      value,
      m.valueBufferSize,
      `a per-CPU value is ${m.valueSize} bytes (copied to every CPU), or roundUp(value_size, 8) × possibleCpus() laid out as the kernel does`,
    );
  throw new TypeError(
    `a per-CPU value must be ${m.valueSize} bytes (copied to every CPU), an array of ${ncpu} such buffers, or ${m.valueBufferSize} bytes laid out as the kernel does; got ${describeValue(value)}`,
  );
}
