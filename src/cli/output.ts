/** Output helpers: bpftool-style hex, JSON that survives bigints, aligned tables. */

/** `["0x01","0x00"]`, as bpftool prints bytes in JSON. */
export function hexList(b: Uint8Array): string[] {
  return Array.from(b, (x) => `0x${x.toString(16).padStart(2, '0')}`);
}

/** `01 00 00 00`, for people. */
export function hexText(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** A value made JSON-safe: bigints as numbers when exact, else strings; byte arrays as number arrays. */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint')
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : String(v);
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    // An own property even for a BTF member named __proto__ (plain assignment would set the prototype).
    for (const [k, x] of Object.entries(v))
      Object.defineProperty(out, k, { value: jsonSafe(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** JSON text: one line, or indented with `pretty`. */
export function json(v: unknown, pretty = false): string {
  return JSON.stringify(jsonSafe(v), null, pretty ? 2 : undefined);
}

/** Formats a decoded record or scalar for people (output, not error messages), compactly: `{ packets: 10, drops: 1 }`. */
export function formatValue(v: unknown): string {
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (v instanceof Uint8Array) return hexText(v);
  if (v !== null && typeof v === 'object')
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${k}: ${formatValue(x)}`)
      .join(', ')} }`;
  return String(v);
}

/** Rows of cells as aligned columns (numbers right-aligned). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^-?[\d.]+$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * Text for a terminal: control characters (C0, DEL, C1) and backslashes escaped as `\xNN`, `\n`, `\t`,
 * `\\`, so that a pin named with escape sequences or newlines can neither drive the terminal nor break rows.
 */
export function printable(s: string): string {
  let out = '';
  for (const c of s) {
    const n = c.charCodeAt(0);
    if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === '\t') out += '\\t';
    else if (n < 0x20 || (n >= 0x7f && n <= 0x9f)) out += `\\x${n.toString(16).padStart(2, '0')}`;
    else out += c;
  }
  return out;
}
