/**
 * `dump`: entries are written as they are read, so memory stays flat however
 * large the map is. JSON is built by hand (hex bytes from a table, one string
 * per chunk of entries) and handed to stdout in slices of about 64 KiB; when
 * the stream says it is full, the walk waits for 'drain' before reading on.
 *
 * Maps whose lookups fail by design (perf event arrays, cgroup arrays, …)
 * are dumped as bpftool does: each key with its error, exit code 0.
 */
import { once } from 'node:events';
import { BpfError, type BpfMap, mapTypeTraits, possibleCpus } from '../index.js';
import type { Parsed } from './args.js';
import { CliError, type Typing, humanCells, humanHeader, jsonEntry, typeName } from './maps.js';
import { hexList, hexText, json, table } from './output.js';

/** Where the dump goes: a writable stream (stdout in the command). */
export interface DumpSink {
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => `"0x${b.toString(16).padStart(2, '0')}"`);

/** `["0x01","0x00"]` from `n` bytes of `buf` at `off`, without intermediate arrays. */
function hexJson(buf: Uint8Array, off: number, n: number): string {
  if (n === 0) return '[]';
  let s = `[${HEX[buf[off] as number]}`;
  for (let i = 1; i < n; i++) s += `,${HEX[buf[off + i] as number]}`;
  return `${s}]`;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

const QUOTED = new Map<string, string>();

/** `json(v)` without the intermediate copy: the same text as `JSON.stringify(jsonSafe(v))`. */
function fmtJson(v: unknown): string {
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? String(v) : `"${v}"`;
    case 'bigint':
      return v >= MIN_SAFE && v <= MAX_SAFE ? String(v) : `"${v}"`;
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (v instanceof Uint8Array) return `[${v.join(',')}]`;
      if (Array.isArray(v)) return `[${v.map(fmtJson).join(',')}]`;
      let s = '';
      for (const k in v) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        let q = QUOTED.get(k);
        if (q === undefined) {
          q = `${JSON.stringify(k)}:`;
          QUOTED.set(k, q);
        }
        s += s ? `,${q}${fmtJson(x)}` : q + fmtJson(x);
      }
      return `{${s}}`;
    }
    default:
      return JSON.stringify(v) ?? 'null';
  }
}

/** Types read with lookup batches, whole chunks per syscall (the walks that never repeat a key). */
function batched(m: BpfMap): boolean {
  return mapTypeTraits(m.type)?.batchWalk === true;
}

const FLUSH_AT = 1 << 16;

class Writer {
  #buf = '';
  readonly #sink: DumpSink;
  constructor(sink: DumpSink) {
    this.#sink = sink;
  }
  add(s: string): void {
    this.#buf += s;
  }
  get full(): boolean {
    return this.#buf.length >= FLUSH_AT;
  }
  /** Writes what is buffered; resolves once the sink has room again. */
  async flush(): Promise<void> {
    if (this.#buf.length === 0) return;
    const s = this.#buf;
    this.#buf = '';
    if (!this.#sink.write(s)) await once(this.#sink as unknown as NodeJS.EventEmitter, 'drain');
  }
}

/** One entry of a per-key walk: the value, or the error its lookup gave. */
type Looked = { key: Uint8Array; value: Uint8Array | Uint8Array[] } | { key: Uint8Array; error: BpfError };

function* perKey(m: BpfMap): Generator<Looked> {
  for (const key of m.keys()) {
    const k = key.slice();
    try {
      const value = m.lookup(k);
      if (value !== undefined) yield { key: k, value };
    } catch (err) {
      if (!(err instanceof BpfError) || err.code === 'EBADF') throw err;
      yield { key: k, error: err };
    }
  }
}

/** The error text of an entry that cannot be read: the errno name, as bpftool prints strerror. */
function errorText(e: BpfError): string {
  return `${e.code} (errno ${e.errno})`;
}

export async function dump(m: BpfMap, t: Typing, p: Parsed, sink: DumpSink): Promise<void> {
  if (m.keySize === 0) throw new CliError(`${typeName(m.type)} maps have no keys to dump: use peek or pop`);
  if (p.json) return dumpJson(m, t, p.pretty, sink);
  // People's tables align columns, which needs every row: text is for maps a person reads.
  const rows: string[][] = [];
  let errors = 0;
  if (batched(m)) {
    for (const [k, v] of m.entries()) rows.push(humanCells(m, t, k, v));
  } else {
    for (const e of perKey(m)) {
      if ('error' in e) {
        errors++;
        rows.push([hexText(e.key), `error: ${errorText(e.error)}`]);
      } else rows.push(humanCells(m, t, e.key, e.value));
    }
  }
  const w = new Writer(sink);
  const header = errors === rows.length && rows.length > 0 ? ['KEY', 'VALUE'] : humanHeader(m, possibleCpus());
  const n = rows.length - errors;
  w.add(`${table(header, rows)}\n${n} entr${n === 1 ? 'y' : 'ies'}${errors ? `, ${errors} unreadable` : ''}\n`);
  await w.flush();
}

async function dumpJson(m: BpfMap, t: Typing, pretty: boolean, sink: DumpSink): Promise<void> {
  const w = new Writer(sink);
  const sep = pretty ? ',\n' : ',';
  let first = true;
  const entry = (s: string) => {
    w.add(first ? s : sep + s);
    first = false;
  };
  const typed = t.value !== undefined;
  w.add(pretty ? '[\n' : '[');
  const one = (key: Uint8Array, value: Uint8Array | Uint8Array[]): string => {
    if (typed || pretty) {
      const s = json(jsonEntry(t, key, value), pretty);
      return pretty ? s.replace(/^/gm, '  ') : s;
    }
    let s = `{"key":${hexJson(key, 0, key.length)}`;
    if (Array.isArray(value)) {
      s += ',"values":[';
      for (let c = 0; c < value.length; c++) {
        const v = value[c] as Uint8Array;
        s += `${c ? ',' : ''}{"cpu":${c},"value":${hexJson(v, 0, v.length)}}`;
      }
      return `${s}]}`;
    }
    return `${s},"value":${hexJson(value, 0, value.length)}}`;
  };
  if (batched(m)) {
    const ks = m.keySize;
    const vs = m.valueSize;
    const stride = m.valueBufferSize;
    const ncpu = m.isPerCpu ? possibleCpus() : 0;
    const slot = ncpu ? stride / ncpu : vs;
    const fast = !pretty;
    const kc = t.key;
    const vc = t.value;
    for (const c of m.chunks({ reuse: true })) {
      const keyView = new DataView(c.keys.buffer, c.keys.byteOffset, c.keys.byteLength);
      const valueView = new DataView(c.values.buffer, c.values.byteOffset, c.values.byteLength);
      for (let i = 0; i < c.count; i++) {
        if (fast) {
          let s = `{"key":${hexJson(c.keys, i * ks, ks)}`;
          const base = i * stride;
          if (ncpu) {
            s += ',"values":[';
            for (let cpu = 0; cpu < ncpu; cpu++)
              s += `${cpu ? ',' : ''}{"cpu":${cpu},"value":${hexJson(c.values, base + cpu * slot, vs)}}`;
            s += ']';
          } else s += `,"value":${hexJson(c.values, base, vs)}`;
          if (vc !== undefined) {
            s += ',"formatted":{';
            if (kc !== undefined) s += `"key":${fmtJson(kc.read(keyView, i * ks))},`;
            if (ncpu) {
              s += '"values":[';
              for (let cpu = 0; cpu < ncpu; cpu++)
                s += `${cpu ? ',' : ''}{"cpu":${cpu},"value":${fmtJson(vc.read(valueView, base + cpu * slot))}}`;
              s += ']}';
            } else s += `"value":${fmtJson(vc.read(valueView, base))}}`;
          }
          entry(`${s}}`);
        } else {
          const key = c.keys.subarray(i * ks, (i + 1) * ks);
          const raw = c.values.subarray(i * stride, (i + 1) * stride);
          const value = ncpu ? Array.from({ length: ncpu }, (_, cpu) => raw.subarray(cpu * slot, cpu * slot + vs)) : raw;
          entry(one(key, value));
        }
      }
      if (w.full) await w.flush();
    }
  } else {
    for (const e of perKey(m)) {
      if ('error' in e) {
        const rec = { key: hexList(e.key), value: { error: errorText(e.error) } };
        entry(pretty ? json(rec, true).replace(/^/gm, '  ') : JSON.stringify(rec));
      } else entry(one(e.key, e.value));
      if (w.full) await w.flush();
    }
  }
  w.add(pretty ? '\n]\n' : ']\n');
  await w.flush();
}
