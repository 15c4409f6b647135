/**
 * `bpfmap watch MAP`: a live view of a map, refreshed in place. Each entry's
 * numeric fields (per-CPU values summed) get a per-second rate, and the
 * sort field a sparkline of its recent rates. q or Ctrl-C quits and restores
 * the terminal; without a terminal it prints one plain snapshot per interval.
 */
import { type BpfMap, type Codec, type MapValue, decodeIntValue } from '../index.js';
import { type Parsed, UsageError, type Words, parseCount, parseMapSelector } from './args.js';
import { openMap, sum, typeName, typing } from './maps.js';
import { hexText, formatValue, table } from './output.js';

const SPARKS = '▁▂▃▄▅▆▇█';
const HISTORY = 20;

/** Numeric leaves of a decoded value, by dotted path (`stats.packets`; `value` for a bare number). */
export function numericLeaves(v: unknown, prefix = ''): Map<string, number> {
  const out = new Map<string, number>();
  const visit = (x: unknown, path: string) => {
    if (typeof x === 'number' && Number.isFinite(x)) out.set(path || 'value', x);
    else if (typeof x === 'bigint') out.set(path || 'value', Number(x));
    else if (typeof x === 'boolean') return;
    else if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) visit(x[i], `${path}[${i}]`);
    } else if (x !== null && typeof x === 'object') for (const [k, y] of Object.entries(x)) visit(y, path ? `${path}.${k}` : k);
  };
  visit(v, prefix);
  return out;
}

export function sparkline(values: readonly number[]): string {
  if (values.length === 0) return '';
  const max = Math.max(...values);
  const min = Math.min(0, ...values);
  return values.map((v) => SPARKS[max === min ? 0 : Math.round(((v - min) / (max - min)) * (SPARKS.length - 1))]).join('');
}

function decodeValue(map: BpfMap, codec: Codec<unknown> | undefined, v: MapValue): unknown {
  const one = (b: Uint8Array) => (codec ? codec.decode(b) : map.valueSize <= 8 ? decodeIntValue(b) : b);
  return Array.isArray(v) ? sum(v.map(one)) : one(v);
}

interface Row {
  key: string;
  value: unknown;
  fields: Map<string, number>;
}

function snapshot(map: BpfMap, t: ReturnType<typeof typing>): Row[] {
  const rows: Row[] = [];
  for (const [k, v] of map.entries()) {
    const value = decodeValue(map, t.value, v);
    rows.push({ key: t.key ? formatValue(t.key.decode(k)) : hexText(k), value, fields: numericLeaves(value) });
  }
  return rows;
}

function fmtRate(r: number): string {
  const a = Math.abs(r);
  if (a >= 1e9) return `${(r / 1e9).toFixed(1)}G/s`;
  if (a >= 1e6) return `${(r / 1e6).toFixed(1)}M/s`;
  if (a >= 1e3) return `${(r / 1e3).toFixed(1)}k/s`;
  return `${r.toFixed(r % 1 === 0 ? 0 : 1)}/s`;
}

/**
 * One screen that fits the terminal: the top rows (already sorted), and a
 * footer saying how many are hidden; lines are cut at the width so none
 * wraps, and no newline follows the last line so nothing scrolls.
 */
export function fitScreen(
  title: string,
  header: readonly string[],
  body: readonly (readonly string[])[],
  field: string | undefined,
  rows = process.stdout.rows || 24,
  columns = process.stdout.columns || 80,
): string {
  const fixed = 4; // title, blank line, table header, footer
  const room = Math.max(0, rows - fixed);
  const shown = body.length > room ? body.slice(0, room) : body;
  const hidden = body.length - shown.length;
  const lines = [title, '', ...table(header, shown).split('\n')];
  const more = `… ${hidden} more entr${hidden === 1 ? 'y' : 'ies'} not shown${field ? ` (top ${shown.length} by ${field})` : ''}  `;
  lines.push(`${hidden > 0 ? more : ''}q quits`);
  const cut = lines.slice(0, Math.max(1, rows)).map((l) => (l.length > columns ? `${l.slice(0, Math.max(0, columns - 1))}…` : l));
  return `\x1b[H\x1b[2J${cut.join('\n')}`;
}

export async function watch(w: Words, p: Parsed): Promise<number> {
  const ref = parseMapSelector(w);
  w.end();
  const intervalS = Number(p.options.get('--interval') ?? '1');
  if (!(intervalS >= 0.05 && intervalS <= 3600))
    throw new UsageError(
      `watch: --interval must be a number of seconds from 0.05 to 3600, got ${p.options.get('--interval')}`,
      'watch',
    );
  const maxFrames = p.options.has('--count') ? parseCount(p.options.get('--count') as string, '--count', 'watch') : Infinity;
  const map = openMap(ref);
  if (map.keySize === 0) {
    map.close();
    throw new UsageError(`watch: ${typeName(map.type)} maps have no keys to watch`, 'watch');
  }
  const t = typing(map);
  const tty = process.stdout.isTTY === true;
  const out = (s: string) => process.stdout.write(s);
  let sortField = p.options.get('--sort');
  const prev = new Map<string, { at: number; fields: Map<string, number> }>();
  const history = new Map<string, number[]>();
  let frames = 0;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });

  const restore = () => {
    if (tty) out('\x1b[?25h\x1b[?1049l');
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    process.stdin.pause();
  };
  const onKey = (buf: Buffer) => {
    const s = buf.toString();
    if (s === 'q' || s === 'Q' || s === '\x03') stop();
  };
  const onSig = () => stop();
  if (tty) out('\x1b[?1049h\x1b[?25l');
  if (process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', onKey);
  }
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);

  let render = () => {};
  const frame = () => {
    const now = performance.now();
    const rows = snapshot(map, t);
    const fieldNames = [...new Set(rows.flatMap((r) => [...r.fields.keys()]))];
    if (sortField !== undefined && !fieldNames.includes(sortField) && rows.length > 0) {
      throw new UsageError(`watch: --sort ${sortField}: no such numeric field (${fieldNames.join(', ') || 'none'})`, 'watch');
    }
    const field = sortField ?? fieldNames[0];
    const rates = new Map<string, Map<string, number>>();
    for (const r of rows) {
      const before = prev.get(r.key);
      const rr = new Map<string, number>();
      if (before) {
        const dt = (now - before.at) / 1000;
        for (const [f, v] of r.fields) {
          const b = before.fields.get(f);
          if (b !== undefined && dt > 0) rr.set(f, (v - b) / dt);
        }
      }
      rates.set(r.key, rr);
      prev.set(r.key, { at: now, fields: r.fields });
      if (field !== undefined && rr.has(field)) {
        const h = history.get(r.key) ?? [];
        h.push(rr.get(field) as number);
        if (h.length > HISTORY) h.shift();
        history.set(r.key, h);
      }
    }
    const key = (r: Row) => (field === undefined ? 0 : (r.fields.get(field) ?? 0));
    rows.sort((a, b) => key(b) - key(a));
    const header = ['KEY', 'VALUE', ...(field ? [`${field} RATE`, 'TREND'] : [])];
    const body = rows.map((r) => [
      r.key,
      formatValue(r.value),
      ...(field
        ? [
            rates.get(r.key)?.has(field) ? fmtRate(rates.get(r.key)?.get(field) as number) : '…',
            sparkline(history.get(r.key) ?? []),
          ]
        : []),
    ]);
    const title = `bpfmap watch: map ${map.id} ${typeName(map.type)}${map.name ? ` ${map.name}` : ''}  ${rows.length} entries  every ${intervalS}s${field ? `  sorted by ${field}` : ''}`;
    render = () => out(tty ? fitScreen(title, header, body, field) : `${title}\n\n${table(header, body)}\n\n`);
    render();
    sortField = field;
    frames++;
    if (frames >= maxFrames) stop();
  };

  let timer: NodeJS.Timeout | undefined;
  let failure: unknown;
  // A resized terminal (SIGWINCH) redraws the last frame at its new size.
  const onResize = () => render();
  if (tty) process.stdout.on('resize', onResize);
  try {
    frame();
    timer = setInterval(() => {
      try {
        frame();
      } catch (err) {
        failure = err;
        stop();
      }
    }, intervalS * 1000);
    await stopped;
  } finally {
    if (timer) clearInterval(timer);
    process.stdin.off('data', onKey);
    process.stdout.off('resize', onResize);
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
    restore();
    map.close();
  }
  if (failure) throw failure;
  return 0;
}
