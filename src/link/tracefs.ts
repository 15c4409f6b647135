/**
 * tracefs: where tracepoint ids live (`events/G/N/id`), mounted at
 * /sys/kernel/tracing when absent, and the nearest names for a tracepoint
 * that does not exist. Also the tracefs probe events (`uprobe_events`,
 * `kprobe_events`): a probe added there becomes a tracepoint.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';

const TRACEFS = '/sys/kernel/tracing';
const DEBUGFS_TRACING = '/sys/kernel/debug/tracing';

let root: string | undefined;

/** The tracefs directory, mounting tracefs at /sys/kernel/tracing when it is not mounted anywhere. */
export function tracefsRoot(): string {
  if (root !== undefined) return root;
  for (const dir of [TRACEFS, DEBUGFS_TRACING]) {
    if (existsSync(`${dir}/events`)) {
      root = dir;
      return dir;
    }
  }
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new Error(
      `tracefs is not mounted and mounting it at ${TRACEFS} failed (${String((e as { stderr?: unknown }).stderr ?? (e as Error).message).trim()}); run: mount -t tracefs tracefs ${TRACEFS}`,
    );
  }
  if (!existsSync(`${TRACEFS}/events`)) throw new Error(`tracefs mounted at ${TRACEFS} has no events/ directory`);
  root = TRACEFS;
  return TRACEFS;
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** Levenshtein distance, for suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

/** The `n` names of `candidates` nearest to `wanted` (substring matches first). */
export function nearest(wanted: string, candidates: readonly string[], n = 5): string[] {
  return candidates
    .map((c) => ({ c, d: c.includes(wanted) || wanted.includes(c) ? 0 : distance(wanted, c) }))
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .slice(0, n)
    .map((x) => x.c);
}

/**
 * The id of tracepoint `group/name` (tracefs `events/group/name/id`).
 * @throws {Error} naming the nearest existing tracepoints when it does not exist.
 */
export function tracepointId(group: string, name: string): number {
  const dir = tracefsRoot();
  const path = `${dir}/events/${group}/${name}/id`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    const groups = listDir(`${dir}/events`).filter((g) => !g.includes('.') && g !== 'enable' && g !== 'filter');
    if (!groups.includes(group))
      throw new TracepointNotFoundError(
        `${group}/${name}`,
        `no tracepoint group "${group}" in ${dir}/events; nearest groups: ${nearest(group, groups).join(', ')}`,
      );
    const names = listDir(`${dir}/events/${group}`).filter((n) => n !== 'enable' && n !== 'filter');
    throw new TracepointNotFoundError(
      `${group}/${name}`,
      `no tracepoint "${name}" in group "${group}"; nearest: ${nearest(name, names)
        .map((n) => `${group}/${n}`)
        .join(', ')}`,
    );
  }
  const id = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(id)) throw new Error(`${path} does not hold a number`);
  return id;
}

/** A tracepoint (or raw tracepoint) that does not exist; `message` names the nearest that do. */
export class TracepointNotFoundError extends Error {
  /** What was asked for, `group/name` or the raw tracepoint name. */
  readonly tracepoint: string;
  constructor(tracepoint: string, message: string) {
    super(message);
    this.name = 'TracepointNotFoundError';
    this.tracepoint = tracepoint;
  }
}

/** Raw tracepoint names this kernel has (tracefs event names, without groups), for suggestions. */
export function allEventNames(): string[] {
  const dir = tracefsRoot();
  const out: string[] = [];
  for (const g of listDir(`${dir}/events`)) for (const n of listDir(`${dir}/events/${g}`)) out.push(n);
  return out;
}

let probeSeq = 0;

/**
 * Adds a tracefs probe event (`kind` `uprobe` or `kprobe`) with definition
 * `def` (`PATH:0xOFFSET` or `FUNC+OFF`), returns its group, name and
 * tracepoint id, and a function that removes it again.
 */
export function addProbeEvent(
  kind: 'uprobe' | 'kprobe',
  retprobe: boolean,
  def: string,
): { id: number; group: string; name: string; remove(): void } {
  const dir = tracefsRoot();
  const file = `${dir}/${kind}_events`;
  if (!existsSync(file))
    throw new Error(
      kind === 'kprobe'
        ? `${file} does not exist: this kernel has no kprobes (CONFIG_KPROBES and CONFIG_KPROBE_EVENTS are not set)`
        : `${file} does not exist: this kernel has no uprobe events (CONFIG_UPROBE_EVENTS is not set)`,
    );
  const group = `bpfmap_${process.pid}`;
  const name = `${kind[0]}${retprobe ? 'r' : 'p'}_${++probeSeq}`;
  try {
    appendFileSync(file, `${retprobe ? 'r' : 'p'}:${group}/${name} ${def}\n`);
  } catch (e) {
    throw new Error(`adding the ${kind} event "${def}" to ${file} failed: ${(e as Error).message}`);
  }
  const remove = () => {
    try {
      appendFileSync(file, `-:${group}/${name}\n`);
    } catch {
      // still in use (a pinned link): it goes when the pin does and someone removes it
    }
  };
  try {
    return { id: tracepointId(group, name), group, name, remove };
  } catch (e) {
    remove();
    throw e;
  }
}
