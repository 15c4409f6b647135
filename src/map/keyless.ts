/**
 * `BpfMap`'s queue, stack and bloom filter operations (push, pop, peek): maps without keys, whose
 * element commands take a null key; a bloom filter's peek tests membership of a value.
 */
import { errnoNumber } from '../errors.js';
import { Cmd, elem } from '../sys/bpf.js';
import { MapType } from '../sys/uapi.js';
import { checkBytes } from '../validate.js';
import { mapError } from './hints.js';
import type { MapInternals } from './internals.js';
import type { BpfMap, UpdateOptions } from './map.js';

const ENOENT = errnoNumber('ENOENT');

/** Refuses maps with keys, naming the call and what to use instead. */
function keyless(map: BpfMap, s: MapInternals, op: string): void {
  if (map.keySize !== 0)
    throw new TypeError(`${op}() is for queue, stack and bloom filter maps; this is a ${s.typeName()} map (use update/lookup)`);
}

/** `BpfMap.push`. */
export function push(map: BpfMap, s: MapInternals, value: Uint8Array, opts: UpdateOptions | undefined): void {
  s.live('BPF_MAP_UPDATE_ELEM');
  keyless(map, s, 'push');
  map.update(null, value, opts);
}

/** `BpfMap.pop`. */
export function pop(map: BpfMap, s: MapInternals): Uint8Array | undefined {
  s.live('BPF_MAP_LOOKUP_AND_DELETE_ELEM');
  keyless(map, s, 'pop');
  return map.lookupAndDelete(null) as Uint8Array | undefined;
}

/** `BpfMap.peek`: the head of a queue or stack, or a bloom filter's membership test of `value`. */
export function peek(map: BpfMap, s: MapInternals, value: Uint8Array | undefined): Uint8Array | boolean | undefined {
  const fd = s.live('BPF_MAP_LOOKUP_ELEM');
  keyless(map, s, 'peek');
  if (map.type === MapType.BloomFilter) {
    const v = checkBytes('value', value, map.valueSize, "the bloom filter's value_size");
    const r = elem(Cmd.BPF_MAP_LOOKUP_ELEM, fd, null, 0, v, map.valueSize, 0);
    if (r === -ENOENT) return false;
    if (r < 0) throw mapError('BPF_MAP_LOOKUP_ELEM', -r, map);
    return true;
  }
  if (value !== undefined) throw new TypeError('peek() takes no value on queue and stack maps');
  return map.lookup(null) as Uint8Array | undefined;
}
