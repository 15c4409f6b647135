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

/** Fields of /proc/self/fdinfo/<fd>, read once (each undefined when absent), or undefined when the fd has none. */
export function fdInfoFields(fd: number, fields: readonly string[]): (string | undefined)[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  } catch {
    return undefined;
  }
  return fields.map((f) => new RegExp(`^${f}:\\s*(.*)$`, 'm').exec(text)?.[1]);
}

/** One field of /proc/self/fdinfo/<fd> (e.g. `frozen`), or undefined. */
export function fdInfoField(fd: number, field: string): string | undefined {
  return fdInfoFields(fd, [field])?.[0];
}

/** An fd's access mode (`flags` of its fdinfo, octal, masked by O_ACCMODE). */
export const O_RDONLY = 0;
export const O_WRONLY = 1;

/**
 * The access mode of an fdinfo `flags` value (O_RDONLY 0, O_WRONLY 1, O_RDWR 2), or undefined. The
 * kernel turns BPF_F_RDONLY/BPF_F_WRONLY at creation or opening into this mode and drops them from
 * map_flags, so fdinfo is where they can be seen.
 */
export function accessModeOf(flags: string | undefined): number | undefined {
  return flags === undefined ? undefined : Number.parseInt(flags, 8) & 3;
}

/** The fd's access mode (see `accessModeOf`), or undefined. */
export function fdAccessMode(fd: number): number | undefined {
  return accessModeOf(fdInfoField(fd, 'flags'));
}
