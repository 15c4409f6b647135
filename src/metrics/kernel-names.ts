/**
 * Names the kernel gives numbers: kernel addresses (/proc/kallsyms), syscall numbers (a table
 * generated from the uapi headers), interface indexes (/sys/class/net), cgroup ids (the inode
 * numbers of the cgroup2 hierarchy's directories). Each table is read once and kept; the tables
 * that change while the exporter runs (interfaces, cgroups) are read again when a number is not in
 * them, at most once per `REFRESH_MS`.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SYSCALL_NAMES } from './syscall-names.js';

const REFRESH_MS = 1000;

let ksyms: { addrs: BigUint64Array; names: string[] } | undefined;

/** The kernel symbol at or below `addr` (nearest lower symbol), or the address in hex when none is. */
export function ksymName(addr: bigint): string {
  if (ksyms === undefined) ksyms = readKallsyms();
  const { addrs, names } = ksyms;
  let lo = 0;
  let hi = addrs.length - 1;
  if (hi < 0 || addr < (addrs[0] as bigint)) return `0x${addr.toString(16)}`;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((addrs[mid] as bigint) <= addr) lo = mid;
    else hi = mid - 1;
  }
  return names[lo] as string;
}

function readKallsyms(): { addrs: BigUint64Array; names: string[] } {
  let text = '';
  try {
    text = readFileSync('/proc/kallsyms', 'latin1');
  } catch {}
  const rows: [bigint, string][] = [];
  for (const line of text.split('\n')) {
    const sp1 = line.indexOf(' ');
    const sp2 = line.indexOf(' ', sp1 + 1);
    if (sp1 < 0 || sp2 < 0) continue;
    const addr = BigInt(`0x${line.slice(0, sp1)}`);
    if (addr === 0n) continue; // kptr_restrict hides the addresses: nothing to match
    const rest = line.slice(sp2 + 1);
    const tab = rest.indexOf('\t');
    rows.push([addr, tab < 0 ? rest : rest.slice(0, tab)]);
  }
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { addrs: BigUint64Array.from(rows.map((r) => r[0])), names: rows.map((r) => r[1]) };
}

let syscalls: readonly string[] | undefined;

/** The name of syscall `nr` on this machine's architecture, or the number when it has none. */
export function syscallName(nr: number): string {
  if (syscalls === undefined) syscalls = (SYSCALL_NAMES[process.arch] ?? '').split(' ');
  const n = nr >= 0 ? syscalls[nr] : undefined;
  return n === undefined || n === '-' ? String(nr) : n;
}

/** A number → name table read from the system, read again on a miss (at most once per REFRESH_MS). */
class Refreshing<K> {
  #table = new Map<K, string>();
  #readAt = Number.NEGATIVE_INFINITY;
  readonly #read: () => Map<K, string>;
  constructor(read: () => Map<K, string>) {
    this.#read = read;
  }
  get(k: K): string | undefined {
    const hit = this.#table.get(k);
    if (hit !== undefined) return hit;
    const now = performance.now();
    if (now - this.#readAt < REFRESH_MS) return undefined;
    this.#readAt = now;
    this.#table = this.#read();
    return this.#table.get(k);
  }
}

const ifnames = new Refreshing<number>(() => {
  const out = new Map<number, string>();
  let names: string[] = [];
  try {
    names = readdirSync('/sys/class/net');
  } catch {}
  for (const n of names) {
    try {
      out.set(Number(readFileSync(`/sys/class/net/${n}/ifindex`, 'latin1').trim()), n);
    } catch {} // gone meanwhile
  }
  return out;
});

/** The name of network interface `index`, or the index when no interface has it. */
export function ifName(index: number): string {
  return ifnames.get(index) ?? String(index);
}

/** Where the cgroup2 hierarchy is mounted (from /proc/self/mounts), or undefined. */
export function cgroup2Mount(): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/mounts', 'latin1').split('\n')) {
      const f = line.split(' ');
      if (f[2] === 'cgroup2' && f[1]) return f[1].replace(/\\040/g, ' ');
    }
  } catch {}
  return undefined;
}

/** Directories walked for cgroup ids, at most: a machine with more cgroups keeps the rest as ids. */
const MAX_CGROUPS = 100_000;

const cgroups = new Refreshing<bigint>(() => {
  const out = new Map<bigint, string>();
  const root = cgroup2Mount();
  if (root === undefined) return out;
  const walk = (dir: string, rel: string) => {
    if (out.size >= MAX_CGROUPS) return;
    try {
      out.set(statSync(dir, { bigint: true }).ino, rel || '/');
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name), `${rel}/${e.name}`);
    } catch {} // removed meanwhile
  };
  walk(root, '');
  return out;
});

/** The path (from the cgroup2 root, `/` for the root) of cgroup `id`, or the id when no cgroup has it. */
export function cgroupPath(id: bigint): string {
  return cgroups.get(id) ?? id.toString();
}
