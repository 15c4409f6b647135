/**
 * Loads the native addon and gives it a typed face. Only src/sys/ imports this.
 * Every function returns the syscall's result, or -errno.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Addon {
  /** bpf(cmd, attr, size = attr.length), after writing each buffer's address at its offset in attr. */
  bpf(cmd: number, attr: Uint8Array, ...pointers: Array<number | Uint8Array | null>): number;
  /** bpf(cmd, attr) after writing each buffer's address into its target (attr or a struct attr points to). */
  bpfNested(cmd: number, attr: Uint8Array, ...patches: Array<number | Uint8Array | null>): number;
  /** One element command with the attr built natively: the hot path. */
  elem(
    cmd: number,
    fd: number,
    key: Uint8Array | null,
    keyLength: number,
    value: Uint8Array | null,
    valueLength: number,
    flags: number,
  ): number;
  close(fd: number): number;
  /** fcntl(fd, F_DUPFD_CLOEXEC, 0): a new fd for the same open file, or -errno. */
  dup(fd: number): number;
  /** A MAP_SHARED mapping of fd: [the ArrayBuffer over it, its handle for unmap()], or -errno. */
  mmap(fd: number, length: number, offset: number, writable: boolean): [ArrayBuffer, object] | number;
  /** Detaches the ArrayBuffer (its views become empty), then munmaps. */
  unmap(handle: object, buffer: ArrayBuffer): number;
  /** sysconf(_SC_PAGESIZE). */
  pageSize(): number;
  /**
   * perf_event_open(2) with a caller-built attr: an fd or -errno. With `name` (a NUL-terminated string,
   * for the uprobe/kprobe PMUs), the address of a copy of it goes into attr.config1; -EFAULT when attr is
   * under 64 bytes or `name` is empty or does not end in 0.
   */
  perfEventOpen(attr: Uint8Array, pid: number, cpu: number, groupFd: number, flags: number, name?: Uint8Array | null): number;
  /** ioctl(fd, request, arg) for the perf event requests that take an integer (enable, disable, reset, set BPF); others -EINVAL. */
  ioctl(fd: number, request: number, arg: number): number;
  /** pidfd_open(pid, 0): a pidfd or -errno. */
  pidfdOpen(pid: number): number;
  /** epoll_create1(EPOLL_CLOEXEC): an fd or -errno. */
  epollCreate(): number;
  /** epoll_ctl(ADD, fd, EPOLLIN): 0 or -errno. */
  epollAdd(epfd: number, fd: number): number;
  /** epoll_wait: ready count or -errno. Blocks; for worker threads. */
  epollWait(epfd: number, timeoutMs: number): number;
  /** This load's call block (an ArrayBuffer shared with the addon, a guard page after it; layout in native/bpfmap.c). */
  callBlock(): ArrayBuffer;
  /** The element command whose arguments are in the call block's header; its result goes to the header's result word. */
  elemBlock(): void;
}

const require = createRequire(import.meta.url);
const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Where the addon is loaded from (worker threads load it again from here): BPFMAP_ADDON when set
 * (another build of the same addon: the fuzz test loads the AddressSanitizer build), else what
 * node-gyp-build picks: build/Release/ when built from source, otherwise the prebuild in
 * prebuilds/linux-<arch>/ (one N-API build serves every Node version).
 */
export const addonPath: string = (() => {
  if (process.env.BPFMAP_ADDON) {
    try {
      return require.resolve(process.env.BPFMAP_ADDON);
    } catch {
      return process.env.BPFMAP_ADDON; // load() explains
    }
  }
  try {
    return (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot);
  } catch {
    return `${packageRoot}build/Release/bpfmap.node`; // load() explains
  }
})();

function load(): Addon {
  try {
    return require(addonPath) as Addon;
  } catch (err) {
    throw new Error(
      `bpfmap: no native addon loads from ${addonPath} (no prebuild fits this machine and none was built). Run \`npm rebuild bpfmap\` (or \`npm run build:native\` in a checkout); building needs python3, make and g++.`,
      { cause: err },
    );
  }
}

export const addon: Addon = load();
