/** The verbs: each reads its words, does one job with the library, and prints for people or JSON. */
import { BpfMap, MAP_FLAG_NAMES, listMapIds, possibleCpus } from '../index.js';
import { type Parsed, UsageError, type Words, parseCount, parseMapSelector, parseUpdateFlags } from './args.js';
import {
  CliError,
  bytesArg,
  humanCells,
  humanHeader,
  jsonEntry,
  openMap,
  pinnedPaths,
  typeByName,
  typeName,
  typing,
} from './maps.js';
import { type DumpSink, dump as streamDump } from './dump-stream.js';
import { hexList, hexText, json, printable, formatValue, table } from './output.js';

export interface Io {
  out(text: string): void;
  /** Where `dump` streams to (default stdout). */
  sink?: DumpSink;
}

type Verb = (w: Words, p: Parsed, io: Io) => void | Promise<void>;

function flagNames(flags: number): string {
  const names = MAP_FLAG_NAMES.filter(([, v]) => flags & v).map(([n]) => n.slice('BPF_F_'.length).toLowerCase());
  return names.length ? names.join(',') : '-';
}

function withMap<T>(w: Words, fn: (m: BpfMap) => T): T {
  const ref = parseMapSelector(w);
  const map = openMap(ref);
  try {
    return fn(map);
  } finally {
    map.close();
  }
}

function describeMap(m: BpfMap, pins: readonly string[]) {
  const info = m.info();
  const fdInfo = m.fdInfo();
  return {
    id: m.id,
    type: typeName(m.type),
    name: m.name,
    flags: m.flags,
    bytes_key: m.keySize,
    bytes_value: m.valueSize,
    max_entries: m.maxEntries,
    bytes_memlock: fdInfo.memlock,
    frozen: fdInfo.frozen ? 1 : 0,
    ...(info.btfId ? { btf_id: info.btfId } : {}),
    pinned: [...pins],
  };
}

const list: Verb = (w, p, io) => {
  w.end();
  const pins = pinnedPaths();
  const rows: ReturnType<typeof describeMap>[] = [];
  for (const id of listMapIds()) {
    let m: BpfMap;
    try {
      m = BpfMap.fromId(id);
    } catch {
      continue; // gone meanwhile
    }
    try {
      rows.push(describeMap(m, pins.get(m.id) ?? []));
    } finally {
      m.close();
    }
  }
  if (p.json) return io.out(json(rows, p.pretty));
  io.out(
    table(
      ['ID', 'TYPE', 'NAME', 'KEY', 'VALUE', 'ENTRIES', 'FLAGS', 'MEMLOCK', 'PINNED'],
      rows.map((r) => [
        String(r.id),
        r.type,
        r.name || '-',
        String(r.bytes_key),
        String(r.bytes_value),
        String(r.max_entries),
        flagNames(r.flags),
        String(r.bytes_memlock),
        r.pinned.map(printable).join(',') || '-',
      ]),
    ),
  );
};

const show: Verb = (w, p, io) =>
  withMap(w, (m) => {
    w.end();
    const d = describeMap(m, pinnedPaths().get(m.id) ?? []);
    if (p.json) return io.out(json(d, p.pretty));
    io.out(
      [
        `${d.id}: ${d.type}  name ${d.name || '-'}  flags ${flagNames(d.flags)}`,
        `\tkey ${d.bytes_key}B  value ${d.bytes_value}B  max_entries ${d.max_entries}  memlock ${d.bytes_memlock}B${d.frozen ? '  frozen' : ''}`,
        ...(d.btf_id ? [`\tbtf_id ${d.btf_id}`] : []),
        ...d.pinned.map((x) => `\tpinned ${printable(x)}`),
      ].join('\n'),
    );
  });

const dump: Verb = async (w, p, io) => {
  const map = openMap(parseMapSelector(w));
  try {
    w.end();
    await streamDump(map, typing(map), p, io.sink ?? process.stdout);
  } finally {
    map.close();
  }
};

const lookup: Verb = (w, p, io) =>
  withMap(w, (m) => {
    const t = typing(m);
    const key = bytesArg('key', w, p, m, t.key, m.keySize > 0) ?? null;
    w.end();
    const v = m.lookup(key);
    if (v === undefined) throw new CliError(`key ${key ? hexText(key) : '(none)'} not found in map ${m.id}`);
    if (p.json) return io.out(json(jsonEntry(t, key, v), p.pretty));
    io.out(table(humanHeader(m, possibleCpus()), [humanCells(m, t, key, v)]));
  });

const update: Verb = (w, p, io) =>
  withMap(w, (m) => {
    const t = typing(m);
    const key = bytesArg('key', w, p, m, t.key, true) as Uint8Array;
    const value = bytesArg('value', w, p, m, t.value, true) as Uint8Array;
    const flags = parseUpdateFlags(w.until(new Set()), w.verb);
    m.update(key, value, { flags });
    if (p.json) io.out(json({ updated: true }, p.pretty));
  });

const del: Verb = (w, p, io) =>
  withMap(w, (m) => {
    const t = typing(m);
    const key = bytesArg('key', w, p, m, t.key, true) as Uint8Array;
    w.end();
    if (!m.delete(key)) throw new CliError(`key ${hexText(key)} not found in map ${m.id}`);
    if (p.json) io.out(json({ deleted: true }, p.pretty));
  });

const getnext: Verb = (w, p, io) =>
  withMap(w, (m) => {
    const t = typing(m);
    const key = bytesArg('key', w, p, m, t.key, false);
    w.end();
    const next = m.getNextKey(key);
    if (next === undefined) throw new CliError(key ? `no key after ${hexText(key)}: it was the last` : `map ${m.id} is empty`);
    if (p.json) {
      const out: Record<string, unknown> = { key: key ? hexList(key) : null, next_key: hexList(next) };
      if (t.key) out.formatted = { next_key: t.key.decode(next) };
      return io.out(json(out, p.pretty));
    }
    io.out(`next key: ${t.key ? formatValue(t.key.decode(next)) : hexText(next)}`);
  });

const push: Verb = (w, p, io) =>
  withMap(w, (m) => {
    const t = typing(m);
    const value = bytesArg('value', w, p, m, t.value, true) as Uint8Array;
    const flags = parseUpdateFlags(w.until(new Set()), w.verb);
    m.push(value, { flags });
    if (p.json) io.out(json({ pushed: true }, p.pretty));
  });

const takeHead =
  (pop: boolean): Verb =>
  (w, p, io) =>
    withMap(w, (m) => {
      const t = typing(m);
      if (!pop && w.peek() === 'value' && m.keySize === 0) {
        const v = bytesArg('value', w, p, m, t.value, true) as Uint8Array;
        w.end();
        const present = m.peek(v);
        if (p.json) return io.out(json({ present }, p.pretty));
        return io.out(present ? 'possibly present' : 'absent');
      }
      w.end();
      const v = pop ? m.pop() : m.peek();
      if (v === undefined) throw new CliError(`map ${m.id} is empty`);
      if (p.json) return io.out(json(jsonEntry(t, null, v), p.pretty));
      io.out(t.value ? formatValue(t.value.decode(v)) : hexText(v));
    });

const create: Verb = (w, p, io) => {
  const path = w.next('path to pin the new map at');
  const fields = new Map<string, string>();
  while (!w.done) {
    const k = w.next('attribute');
    if (!['type', 'key', 'value', 'entries', 'name', 'flags'].includes(k))
      throw usageErrorFor(w.verb, `unknown attribute ${JSON.stringify(k)} (type, key, value, entries, name, flags)`);
    if (fields.has(k)) throw usageErrorFor(w.verb, `${k} given twice`);
    fields.set(k, w.next(`${k} value`));
  }
  for (const k of ['type', 'key', 'value', 'entries'])
    if (!fields.has(k)) throw usageErrorFor(w.verb, `missing ${k} (usage: create PATH type T key N value N entries N)`);
  const m = BpfMap.create({
    type: typeByName(fields.get('type') as string, w.verb),
    keySize: parseCount(fields.get('key') as string, 'key size', w.verb),
    valueSize: parseCount(fields.get('value') as string, 'value size', w.verb),
    maxEntries: parseCount(fields.get('entries') as string, 'entries', w.verb),
    flags: parseCount(fields.get('flags') ?? '0', 'flags', w.verb),
    name: fields.get('name') ?? null,
  });
  try {
    m.pin(path);
    if (p.json) io.out(json({ id: m.id, pinned: path }, p.pretty));
  } finally {
    m.close();
  }
};

function usageErrorFor(verb: string, msg: string): UsageError {
  return new UsageError(`${verb}: ${msg}`, verb);
}

const pin: Verb = (w, p, io) =>
  withMap(w, (m) => {
    const path = w.next('path');
    w.end();
    m.pin(path);
    if (p.json) io.out(json({ id: m.id, pinned: path }, p.pretty));
  });

const freeze: Verb = (w, p, io) =>
  withMap(w, (m) => {
    w.end();
    m.freeze();
    if (p.json) io.out(json({ id: m.id, frozen: true }, p.pretty));
  });

export const VERB_FNS: Readonly<Record<string, Verb>> = {
  list,
  show,
  dump,
  lookup,
  update,
  delete: del,
  getnext,
  push,
  pop: takeHead(true),
  peek: takeHead(false),
  create,
  pin,
  freeze,
};
