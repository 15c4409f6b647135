/**
 * Command-line words as bpftool writes them: map references (`id N`,
 * `pinned PATH`, `name NAME`), byte lists (`0x01 0x02`, `hex 01 02`, `1 2`),
 * update flags (`any`, `noexist`, `exist`, `lock`), and `--option value` pairs.
 */

/** A mistake in how the command was written: exit code 2. */
export class UsageError extends Error {
  readonly verb: string | undefined;
  constructor(message: string, verb?: string) {
    super(message);
    this.name = 'UsageError';
    this.verb = verb;
  }
}

/** Options that take a value, and flags that do not. */
const VALUE_OPTIONS = new Set(['--key', '--value', '--key-int', '--value-int', '--interval', '--sort', '--count', '--type']);
const FLAG_OPTIONS = new Set(['--json', '--help', '-h', '--pretty', '-j']);

export interface Parsed {
  words: string[];
  options: Map<string, string>;
  json: boolean;
  /** `--pretty`: indented JSON (implies --json). */
  pretty: boolean;
  help: boolean;
}

/** Splits argv into positional words and options (anywhere on the line). */
export function parseArgv(argv: readonly string[]): Parsed {
  const words: string[] = [];
  const options = new Map<string, string>();
  let json = false;
  let pretty = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      words.push(...argv.slice(i + 1));
      break;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (VALUE_OPTIONS.has(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      if (options.has(name)) throw new UsageError(`${name} given twice`);
      options.set(name, v);
    } else if (FLAG_OPTIONS.has(name)) {
      if (name === '--json' || name === '-j') json = true;
      else if (name === '--pretty') json = pretty = true;
      else help = true;
    } else if (a.startsWith('--') || (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a))) {
      throw new UsageError(`unknown option ${a}`);
    } else words.push(a);
  }
  return { words, options, json, pretty, help };
}

/** A cursor over positional words. */
export class Words {
  readonly #w: string[];
  #i = 0;
  readonly verb: string;

  constructor(words: readonly string[], verb: string) {
    this.#w = [...words];
    this.verb = verb;
  }

  peek(): string | undefined {
    return this.#w[this.#i];
  }

  next(what: string): string {
    const w = this.#w[this.#i++];
    if (w === undefined) throw new UsageError(`${this.verb}: missing ${what}`, this.verb);
    return w;
  }

  get done(): boolean {
    return this.#i >= this.#w.length;
  }

  /** Takes words while they are not one of `stop`. */
  until(stop: ReadonlySet<string>): string[] {
    const out: string[] = [];
    while (!this.done && !stop.has(this.peek() as string)) out.push(this.#w[this.#i++] as string);
    return out;
  }

  end(): void {
    if (!this.done) throw new UsageError(`${this.verb}: unexpected ${JSON.stringify(this.peek())}`, this.verb);
  }
}

export type MapSelector = { by: 'id'; id: number } | { by: 'pinned'; path: string } | { by: 'name'; name: string };

/** `id N`, `pinned PATH` or `name NAME`. */
export function parseMapSelector(w: Words): MapSelector {
  const kind = w.next('map reference (id N, pinned PATH or name NAME)');
  switch (kind) {
    case 'id': {
      const s = w.next('map id');
      const id = Number(s);
      if (!/^\d+$/.test(s) || !Number.isSafeInteger(id) || id <= 0 || id > 0xffff_ffff)
        throw new UsageError(`${w.verb}: map id must be a positive integer, got ${JSON.stringify(s)}`, w.verb);
      return { by: 'id', id };
    }
    case 'pinned':
      return { by: 'pinned', path: w.next('pinned path') };
    case 'name':
      return { by: 'name', name: w.next('map name') };
    default:
      throw new UsageError(
        `${w.verb}: expected a map reference (id N, pinned PATH or name NAME), got ${JSON.stringify(kind)}`,
        w.verb,
      );
  }
}

/**
 * Bytes as bpftool takes them: `0x01 0x02 …`, `hex 01 02 …` (or one run
 * `hex 0102`), or decimal `1 2 …`.
 */
export function parseBytes(words: readonly string[], what: string, verb: string): Uint8Array {
  if (words.length === 0) throw new UsageError(`${verb}: ${what} needs bytes (e.g. 0x01 0x00, or hex 01 00)`, verb);
  const out: number[] = [];
  if (words[0] === 'hex') {
    const digits = words.slice(1).join('');
    if (digits.length === 0 || digits.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(digits))
      throw new UsageError(
        `${verb}: ${what}: "hex" must be followed by pairs of hex digits, got ${JSON.stringify(words.slice(1).join(' '))}`,
        verb,
      );
    for (let i = 0; i < digits.length; i += 2) out.push(Number.parseInt(digits.slice(i, i + 2), 16));
    return Uint8Array.from(out);
  }
  for (const w of words) {
    const n = /^0x[0-9a-fA-F]{1,2}$/.test(w) ? Number.parseInt(w.slice(2), 16) : /^\d{1,3}$/.test(w) ? Number(w) : Number.NaN;
    if (!(n >= 0 && n <= 255))
      throw new UsageError(`${verb}: ${what}: ${JSON.stringify(w)} is not a byte (0x00…0xff or 0…255)`, verb);
    out.push(n);
  }
  return Uint8Array.from(out);
}

export const UPDATE_FLAGS: Readonly<Record<string, number>> = { any: 0, noexist: 1, exist: 2, lock: 4 };

/** `any|noexist|exist` and/or `lock`. */
export function parseUpdateFlags(words: readonly string[], verb: string): number {
  let flags = 0;
  let modes = 0;
  for (const w of words) {
    const f = UPDATE_FLAGS[w];
    if (f === undefined) throw new UsageError(`${verb}: unknown flag ${JSON.stringify(w)} (any, noexist, exist, lock)`, verb);
    if (w !== 'lock') modes++;
    flags |= f;
  }
  if (modes > 1) throw new UsageError(`${verb}: any, noexist and exist exclude each other`, verb);
  return flags;
}

/** A non-negative integer option or word. */
export function parseCount(s: string, what: string, verb: string, max = 0xffff_ffff): number {
  const n = /^(0x[0-9a-fA-F]+|\d+)$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > max)
    throw new UsageError(`${verb}: ${what} must be an integer from 0 to ${max}, got ${JSON.stringify(s)}`, verb);
  return n;
}

/**
 * An integer for a field of `size` bytes (1 to 8), as C would store it: from -2^(8·size-1) to 2^(8·size)-1,
 * negatives in two's complement. Anything outside is a usage error, never wrapped into range.
 */
export function parseSizedInt(s: string, size: number, what: string, verb: string): bigint {
  const m = /^(-?)(0x[0-9a-fA-F]+|\d+)$/.exec(s);
  if (!m) throw new UsageError(`${verb}: ${what} takes an integer, got ${JSON.stringify(s)}`, verb);
  const bits = size * 8;
  const v = m[1] ? -BigInt(m[2] as string) : BigInt(m[2] as string);
  const min = -(1n << BigInt(bits - 1));
  const max = (1n << BigInt(bits)) - 1n;
  if (v < min || v > max)
    throw new UsageError(`${verb}: ${what} ${s} is out of range for ${size} bytes (from ${min} to ${max})`, verb);
  return BigInt.asUintN(bits, v);
}
