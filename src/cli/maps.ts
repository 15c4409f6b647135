/**
 * What the verbs share: opening a map from a reference, its codecs from BTF,
 * reading key/value arguments, and rendering entries for people and for JSON.
 */
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  BpfMap,
  type Codec,
  MAP_TYPE_NAMES,
  type MapValue,
  decodeIntValue,
  encodeIntKey,
  listMaps,
  mapTypeTraits,
} from '../index.js';
import { isDatasec, mergeSection } from './datasec.js';
import { type MapSelector, type Parsed, UsageError, type Words, parseBytes, parseSizedInt } from './args.js';
import { hexList, hexText, formatValue } from './output.js';

/** A failure the user can fix that is not a usage mistake: exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

export function refText(ref: MapSelector): string {
  return ref.by === 'id' ? `id ${ref.id}` : ref.by === 'pinned' ? `pinned ${ref.path}` : `name ${ref.name}`;
}

export function openMap(ref: MapSelector): BpfMap {
  if (ref.by === 'id') return BpfMap.fromId(ref.id);
  if (ref.by === 'pinned') return BpfMap.openPinned(ref.path);
  const found = listMaps().filter((m) => m.name === ref.name);
  if (found.length === 0) throw new CliError(`no map is named ${JSON.stringify(ref.name)} (bpfmap list shows them all)`);
  if (found.length > 1)
    throw new CliError(
      `the name ${JSON.stringify(ref.name)} is ambiguous: maps ${found.map((m) => m.id).join(', ')} have it; use id N`,
    );
  return BpfMap.fromId((found[0] as { id: number }).id);
}

/** `hash`, `percpu_array`, … as bpftool spells map types. */
export function typeName(type: number): string {
  return mapTypeTraits(type)?.shortName ?? `type_${type}`;
}

const KNOWN_TYPES = Object.keys(MAP_TYPE_NAMES)
  .map((v) => mapTypeTraits(Number(v)))
  .filter((t) => t !== undefined);

export function typeByName(name: string, verb: string): number {
  const found = KNOWN_TYPES.find((t) => t.shortName === name.toLowerCase());
  if (found) return found.type;
  throw new UsageError(
    `${verb}: unknown map type ${JSON.stringify(name)} (one of ${KNOWN_TYPES.map((t) => t.shortName).join(', ')})`,
    verb,
  );
}

/** The map's key and value codecs from its BTF, when it has BTF. */
export interface Typing {
  key: Codec<unknown> | undefined;
  value: Codec<unknown> | undefined;
}

export function typing(map: BpfMap): Typing {
  try {
    const t = map.typedFromBtf();
    return { key: map.keySize === 0 ? undefined : t.keyType, value: t.valueType };
  } catch {
    return { key: undefined, value: undefined };
  }
}

const FLAG_WORDS = new Set(['any', 'noexist', 'exist', 'lock']);

/**
 * A key or value from the command line: `key BYTES…` (positional),
 * `--key-int N`, or `--key JSON` (through the map's BTF).
 */
export function bytesArg(
  side: 'key' | 'value',
  w: Words,
  p: Parsed,
  map: BpfMap,
  codec: Codec<unknown> | undefined,
  required: boolean,
): Uint8Array | undefined {
  const size = side === 'key' ? map.keySize : map.valueSize;
  const intOpt = p.options.get(`--${side}-int`);
  const jsonOpt = p.options.get(`--${side}`);
  let bytes: Uint8Array | undefined;
  if (intOpt !== undefined) {
    if (size < 1 || size > 8)
      throw new CliError(`--${side}-int needs a ${side} of 1 to 8 bytes; this map's ${side}_size is ${size}`);
    const v = parseSizedInt(intOpt, size, `--${side}-int`, w.verb);
    bytes = encodeIntKey(v, size);
  } else if (jsonOpt !== undefined) {
    if (!codec)
      throw new CliError(
        `--${side} takes JSON only for maps with BTF; this map has none: use ${side} 0x.. bytes or --${side}-int`,
      );
    let parsed: unknown;
    try {
      parsed = JSON.parse(jsonOpt);
    } catch (e) {
      throw new UsageError(`${w.verb}: --${side} is not JSON: ${(e as Error).message}`, w.verb);
    }
    bytes = codec.encode(side === 'value' && isDatasec(codec) ? mergeSection(map, codec, parsed) : parsed);
  } else if (w.peek() === side) {
    w.next(side);
    const stop = new Set([side === 'key' ? 'value' : 'key', ...FLAG_WORDS]);
    bytes = parseBytes(w.until(stop), side, w.verb);
  }
  if (bytes === undefined) {
    if (required) throw new UsageError(`${w.verb}: missing ${side} (${side} 0x.. …, --${side}-int N or --${side} JSON)`, w.verb);
    return undefined;
  }
  if (bytes.length !== size) throw new CliError(`${side} is ${bytes.length} bytes but this map's ${side}_size is ${size}`);
  return bytes;
}

function decode(codec: Codec<unknown> | undefined, bytes: Uint8Array): unknown {
  return codec ? codec.decode(bytes) : undefined;
}

/** An entry as `bpftool map dump -j` prints it, plus `formatted` when the map has BTF. */
export function jsonEntry(t: Typing, key: Uint8Array | null, value: MapValue): Record<string, unknown> {
  const e: Record<string, unknown> = {};
  if (key) e.key = hexList(key);
  if (Array.isArray(value)) e.values = value.map((v, cpu) => ({ cpu, value: hexList(v) }));
  else e.value = hexList(value);
  if (t.value) {
    const f: Record<string, unknown> = {};
    if (key && t.key) f.key = decode(t.key, key);
    if (Array.isArray(value)) f.values = value.map((v, cpu) => ({ cpu, value: decode(t.value, v) }));
    else f.value = decode(t.value, value);
    e.formatted = f;
  }
  return e;
}

/** Numeric leaves summed field by field (per-CPU totals); undefined when nothing is numeric. */
export function sum(values: readonly unknown[]): unknown {
  const first = values[0];
  if (typeof first === 'number' || typeof first === 'bigint') {
    if (values.some((v) => typeof v === 'bigint')) return values.reduce<bigint>((a, v) => a + BigInt(v as number | bigint), 0n);
    return (values as number[]).reduce((a, v) => a + v, 0);
  }
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(first)) {
      const s = sum(values.map((v) => (v as Record<string, unknown>)[k]));
      if (s !== undefined) out[k] = s;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return undefined;
}

/** Cells for one entry in people's tables: key, then value (per-CPU: one per CPU and a sum). */
export function humanCells(map: BpfMap, t: Typing, key: Uint8Array | null, value: MapValue): string[] {
  const k = key === null ? '' : t.key ? formatValue(decode(t.key, key)) : hexText(key);
  const one = (v: Uint8Array) => (t.value ? formatValue(decode(t.value, v)) : hexText(v));
  if (!Array.isArray(value)) return [k, one(value)];
  const decoded = value.map((v) => (t.value ? decode(t.value, v) : map.valueSize <= 8 ? decodeIntValue(v) : undefined));
  const total = decoded.every((d) => d !== undefined) ? sum(decoded) : undefined;
  return [k, ...value.map(one), total === undefined ? '' : formatValue(total)];
}

export function humanHeader(map: BpfMap, ncpu: number): string[] {
  const key = map.keySize === 0 ? '' : 'KEY';
  if (!map.isPerCpu) return [key, 'VALUE'];
  return [key, ...Array.from({ length: ncpu }, (_, i) => `CPU${i}`), 'SUM'];
}

/** Paths under bpffs mounts where each map id is pinned (best effort: unreadable paths are skipped). */
export function pinnedPaths(): Map<number, string[]> {
  const out = new Map<number, string[]>();
  let mounts: string[] = [];
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[2] === 'bpf')
      .map((f) => f[1] as string);
  } catch {
    return out;
  }
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(p); // never through a symlink: a loop would walk forever and name pins twice
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        if (depth < 6) walk(p, depth + 1);
        continue;
      }
      try {
        const m = BpfMap.openPinned(p);
        const list = out.get(m.id) ?? [];
        list.push(p);
        out.set(m.id, list);
        m.close();
      } catch {
        // a program, a link, or no permission
      }
    }
  };
  for (const m of new Set(mounts)) walk(m, 0);
  return out;
}
