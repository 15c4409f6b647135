/**
 * How a `BpfMap` gets its `TypedMap` views (typed, typedFromBtf; typedPerCpu is typed on a per-CPU map): from the codecs
 * given, the ones the map was created with, or the BTF the map was created with (by this library,
 * libbpf, bpftool, …). The view itself is typed-map.ts.
 */
import { readBtf } from '../btf/codecs.js';
import type { Codec } from '../codec/codec.js';
import { SCALARS } from '../codec/scalar.js';
import type { MapInternals } from './internals.js';
import type { BpfMap } from './map.js';
import { TypedMap } from './typed-map.js';

/** The key codec of maps without keys (queue, stack, bloom filter): zero bytes, always null. */
const NO_KEY: Codec<null> = Object.freeze({
  kind: 'scalar' as const,
  name: 'void',
  size: 0,
  align: 1,
  write: () => {},
  read: () => null,
  zero: () => null,
  encode: () => new Uint8Array(0),
  decode: () => null,
});

/** `BpfMap.typed`: the codecs given, else those remembered from `create`, else the map's BTF. */
export function typedView<TK, TV>(
  map: BpfMap,
  s: MapInternals,
  keyType: Codec<TK> | undefined,
  valueType: Codec<TV> | undefined,
): TypedMap<TK, TV> {
  s.live('BPF_MAP_LOOKUP_ELEM');
  let k = (keyType ?? s.keyCodec) as Codec<TK> | undefined;
  let v = (valueType ?? s.valueCodec) as Codec<TV> | undefined;
  if ((!k || !v) && map.info().btfValueTypeId !== 0) {
    // No codecs given or remembered: the map's own BTF (libbpf, bpftool, another process) describes it.
    const fromBtf = map.typedFromBtf();
    k ??= fromBtf.keyType as Codec<TK>;
    v ??= fromBtf.valueType as Codec<TV>;
  }
  if (!k || !v)
    throw new TypeError('typed() needs a key type and a value type (or a map created with key and value codecs, or with BTF)');
  return new TypedMap(map, k, v);
}

/** `BpfMap.typedFromBtf`: codecs from the map's BTF (an index key for global-data arrays, which have no key BTF). */
export function typedFromBtf(map: BpfMap, s: MapInternals): TypedMap<unknown, unknown> {
  s.live('BPF_OBJ_GET_INFO_BY_FD');
  const info = map.info();
  if (info.btfId === 0 || info.btfValueTypeId === 0)
    throw new TypeError(
      `map ${map.id}${map.name ? ` (${map.name})` : ''} has no BTF for its value: use typed(keyType, valueType) with a definition`,
    );
  const spec = readBtf(info.btfId);
  const value = spec.codec(info.btfValueTypeId, 'value');
  let key: Codec<unknown>;
  if (info.btfKeyTypeId !== 0) key = spec.codec(info.btfKeyTypeId, 'key');
  else if (map.keySize === 0) key = NO_KEY;
  else if (map.keySize === 4 && s.undeletable)
    key = SCALARS.u32; // an index (global-data maps have no key BTF)
  else throw new TypeError(`map ${map.id} has BTF for its value but not its key: use typed(keyType, valueType)`);
  return new TypedMap(map, key, value);
}
