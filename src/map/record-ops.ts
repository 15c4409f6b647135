/**
 * `BpfMap`'s struct helpers (lookupStruct, updateStruct, … and their integer-key forms): a codec
 * checked against the map's key or value size, records encoded into the map's record scratch
 * (`MapInternals.record`) and decoded from what the element commands return.
 */
import { type Codec, viewOf } from '../codec/codec.js';
import { describeValue } from '../validate.js';
import type { MapInternals } from './internals.js';
import type { BpfMap, LookupOptions, MapValue, UpdateOptions } from './map.js';
import { encodeValueInto, ownOpts } from './values.js';

/** Checks that `type` is a codec of the map's key or value size. */
function fits(map: BpfMap, type: Codec<unknown>, side: 'key' | 'value', command: string): void {
  if (typeof type !== 'object' || type === null || typeof (type as Codec<unknown>).write !== 'function')
    throw new TypeError(`${command}: type must be a codec (defineStruct, u32, …), got ${describeValue(type)}`);
  const size = side === 'key' ? map.keySize : map.valueSize;
  if (type.size !== size)
    throw new RangeError(`${command}: ${type.name} is ${type.size} bytes but the map's ${side}_size is ${size}`);
}

function decodeValue<R>(v: MapValue, type: Codec<R>): R | R[] {
  return Array.isArray(v) ? v.map((slot) => type.decode(slot)) : type.decode(v);
}

/**
 * Encodes a value into the record scratch (zeroed first, so padding is zero), which the caller
 * hands to one syscall before anything else runs.
 */
function encodeValue<R>(map: BpfMap, s: MapInternals, record: R | readonly R[], type: Codec<R>): Uint8Array {
  const rs = s.record;
  // A record's getters may call back into this map: a nested encode gets its own buffer.
  if (rs.busy) return encodeValueInto(new Uint8Array(map.valueBufferSize), map, record, type);
  if (rs.buf === undefined) {
    rs.buf = new Uint8Array(map.valueBufferSize);
    rs.view = viewOf(rs.buf);
  }
  rs.busy = true;
  try {
    return encodeValueInto(rs.buf, map, record, type, rs.view);
  } finally {
    rs.busy = false;
  }
}

/** `BpfMap.lookupStruct`, and with `intKey` its integer-key form (the key staged after the options are read). */
export function lookupStruct<R>(
  map: BpfMap,
  s: MapInternals,
  command: string,
  key: unknown,
  intKey: boolean,
  type: Codec<R>,
  opts: Omit<LookupOptions, 'out'> | undefined,
): R | R[] | undefined {
  const o = ownOpts(opts) as LookupOptions | undefined; // read before the key is in the scratch
  s.live('BPF_MAP_LOOKUP_ELEM');
  fits(map, type, 'value', command);
  const v = map.lookup(intKey ? s.intKey(key, command) : (key as Uint8Array | null), o);
  return v === undefined ? undefined : decodeValue(v, type);
}

/** `BpfMap.updateStruct`, and with `intKey` its integer-key form. */
export function updateStruct<R>(
  map: BpfMap,
  s: MapInternals,
  command: string,
  key: unknown,
  intKey: boolean,
  record: R | readonly R[],
  type: Codec<R>,
  opts: UpdateOptions | undefined,
): void {
  // Option, then the record (its getters run), then the key into the scratch: nothing runs after.
  const o = ownOpts(opts) as UpdateOptions | undefined;
  s.live('BPF_MAP_UPDATE_ELEM');
  fits(map, type, 'value', command);
  const value = encodeValue(map, s, record, type);
  map.update(intKey ? s.intKey(key, command) : (key as Uint8Array | null), value, o);
}

/** `BpfMap.deleteStruct`. */
export function deleteStruct<R>(map: BpfMap, s: MapInternals, keyRecord: R, type: Codec<R>): boolean {
  s.live('BPF_MAP_DELETE_ELEM');
  fits(map, type, 'key', 'deleteStruct');
  return map.delete(type.encode(keyRecord));
}

/** `BpfMap.getNextKeyStruct`. */
export function getNextKeyStruct<R>(map: BpfMap, s: MapInternals, type: Codec<R>, keyRecord: R | undefined): R | undefined {
  s.live('BPF_MAP_GET_NEXT_KEY');
  fits(map, type, 'key', 'getNextKeyStruct');
  const next = map.getNextKey(keyRecord === undefined ? undefined : type.encode(keyRecord));
  return next === undefined ? undefined : type.decode(next);
}
