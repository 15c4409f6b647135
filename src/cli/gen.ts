/**
 * `bpfmap gen skeleton OBJ.o` / `bpfmap gen types OBJ.o`: prints the TypeScript
 * module the generator makes for an object file (see `generateSkeleton`).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { BtfParseError, ObjectError, generateSkeleton, generateTypes } from '../index.js';
import { UsageError } from './args.js';

const USAGE = 'bpfmap gen skeleton|types OBJ.o [--name NAME] [--record MAP=TYPE]… [--type TYPE]… [--import MODULE]';

/** Runs `gen` with the words after it; prints the module with `out`. */
export function gen(argv: readonly string[], out: (text: string) => void): number {
  const words: string[] = [];
  const records: Record<string, string> = {};
  const types: string[] = [];
  let name: string | undefined;
  let importFrom: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const opt = eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${opt} needs a value`, 'gen');
      return v;
    };
    if (opt === '--name') name = value();
    else if (opt === '--import') importFrom = value();
    else if (opt === '--type') types.push(value());
    else if (opt === '--record') {
      const v = value();
      const at = v.indexOf('=');
      if (at < 1 || at === v.length - 1)
        throw new UsageError(`--record takes MAP=TYPE (e.g. events="struct event"), got ${JSON.stringify(v)}`, 'gen');
      records[v.slice(0, at)] = v.slice(at + 1);
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`gen: unknown option ${a} (${USAGE})`, 'gen');
    else words.push(a);
  }
  const [what, file, ...extra] = words;
  if (what !== 'skeleton' && what !== 'types')
    throw new UsageError(`gen: expected skeleton or types, got ${JSON.stringify(what ?? '')}`, 'gen');
  if (file === undefined) throw new UsageError('gen: missing the object file (OBJ.o)', 'gen');
  if (extra.length) throw new UsageError(`gen: unexpected ${JSON.stringify(extra[0])}`, 'gen');
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new TypeError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const base = basename(file);
  const opts = {
    name: name ?? (base.split('.')[0]?.replace(/[^A-Za-z0-9_]/g, '_') || 'obj'),
    source: base,
    records,
    types,
    ...(importFrom === undefined ? {} : { importFrom }),
  };
  let text: string;
  try {
    text = what === 'skeleton' ? generateSkeleton(bytes, opts) : generateTypes(bytes, opts);
  } catch (e) {
    if (e instanceof ObjectError || e instanceof BtfParseError) throw new TypeError(`${file}: ${e.message}`);
    throw e;
  }
  out(text.replace(/\n$/, ''));
  return 0;
}
