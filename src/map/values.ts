/**
 * Encoding a record (or one per CPU) into a whole map value, shared by
 * `BpfMap`'s struct methods and `TypedMap`. Codecs call the record's getters:
 * callers encode before any key is staged, and give a nested call (a getter
 * that uses the same map) a buffer of its own.
 */
import { type Codec, rootPath, viewOf } from '../codec/codec.js';
import { possibleCpus, roundUp8 } from '../sys/cpu.js';
import type { MapShape } from './shape.js';
import { arrayElements } from '../validate.js';

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
  const ncpu = possibleCpus();
  const stride = roundUp8(m.valueSize);
  if (perCpu) {
    const list = arrayElements('value', record as readonly R[]) as R[];
    if (list.length !== ncpu)
      throw new RangeError(`a per-CPU value needs one record per possible CPU: expected ${ncpu}, got ${list.length}`);
    for (let i = 0; i < ncpu; i++) type.write(view, i * stride, list[i], `value[${i}]`);
  } else {
    type.write(view, 0, record, 'value');
    for (let i = 1; i < ncpu; i++) buf.copyWithin(i * stride, 0, m.valueSize);
  }
  return buf;
}

/** The update options as the library's own object: `flags` read once (undefined when there are none). */
export function ownOpts(opts: { flags?: number } | undefined): { flags: unknown } | undefined {
  const flags = opts?.flags;
  return flags === undefined ? undefined : { flags };
}
