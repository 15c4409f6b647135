/**
 * fd ownership. Each fd has one owner object; `own` ties the fd to it so that
 * the garbage collector closes an fd whose owner was dropped without
 * `close()`. That is a safety net, not the plan: close what you open.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { closeFd } from './bpf.js';

const registry = new FinalizationRegistry<number>((fd) => {
  closeFd(fd);
});

/** Closes `fd` when `owner` is garbage collected, until `release(owner)`. */
export function own(owner: object, fd: number): void {
  registry.register(owner, fd, owner);
}

/** Stops watching `owner` and closes `fd` now. */
export function release(owner: object, fd: number): void {
  registry.unregister(owner);
  closeFd(fd);
}

/** What the kernel says `fd` is: `bpf-map`, `bpf-prog`, `socket:[…]`, … or undefined when not open. */
export function fdKind(fd: number): string | undefined {
  try {
    const link = readlinkSync(`/proc/self/fd/${fd}`);
    return link.startsWith('anon_inode:') ? link.slice('anon_inode:'.length) : link;
  } catch {
    return undefined;
  }
}

/** One field of /proc/self/fdinfo/<fd> (e.g. `frozen`), or undefined. */
export function fdInfoField(fd: number, field: string): string | undefined {
  try {
    const text = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text);
    return m?.[1];
  } catch {
    return undefined;
  }
}
