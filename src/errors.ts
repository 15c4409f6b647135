/**
 * `BpfError`: a failed bpf(2) call (or an operation refused before reaching
 * the kernel, such as one on a closed map), with the errno, its name and the
 * command, and a hint that helps fix the cause.
 */
import { constants } from 'node:os';

/** errno names we expect from bpf(2); any other errno is still reported by its name. */
export type ErrnoCode =
  | 'EPERM'
  | 'ENOENT'
  | 'ESRCH'
  | 'EINTR'
  | 'EIO'
  | 'E2BIG'
  | 'EBADF'
  | 'EAGAIN'
  | 'ENOMEM'
  | 'EACCES'
  | 'EFAULT'
  | 'EBUSY'
  | 'EEXIST'
  | 'EXDEV'
  | 'ENODEV'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'EINVAL'
  | 'ENFILE'
  | 'EMFILE'
  | 'ENOSPC'
  | 'ERANGE'
  | 'ENAMETOOLONG'
  | 'ENOSYS'
  | 'ELOOP'
  | 'EOVERFLOW'
  | 'EOPNOTSUPP'
  | 'ENOTSUPP'
  | 'EBADFD'
  | (string & {});

/** errno 524 is the kernel-internal ENOTSUPP, which bpf(2) can return. */
const ENOTSUPP = 524;
/** errno 77, EBADFD (BPF_OBJ_GET_INFO_BY_FD on a number no file holds), is not in Node's table. */
const EBADFD = 77;

const NAMES: ReadonlyMap<number, string> = (() => {
  const m = new Map<number, string>();
  for (const [name, value] of Object.entries(constants.errno)) {
    // Prefer the canonical name where two names share a number (EWOULDBLOCK/EAGAIN, ENOTSUP/EOPNOTSUPP).
    if (!m.has(value) || name === 'EAGAIN' || name === 'EOPNOTSUPP') m.set(value, name);
  }
  m.set(ENOTSUPP, 'ENOTSUPP');
  if (!m.has(EBADFD)) m.set(EBADFD, 'EBADFD');
  return m;
})();

const NUMBERS: ReadonlyMap<string, number> = new Map([...NAMES].map(([n, s]) => [s, n]));

/** The name of errno `n`, e.g. `errnoName(2) === 'ENOENT'`. */
export function errnoName(n: number): ErrnoCode {
  return NAMES.get(n) ?? `ERRNO_${n}`;
}

/** The number of errno `code`, e.g. `errnoNumber('ENOENT') === 2`. */
export function errnoNumber(code: ErrnoCode): number {
  const n = NUMBERS.get(code);
  if (n === undefined) throw new TypeError(`unknown errno name ${code}`);
  return n;
}

/** Extra details a `BpfError` carries besides its errno and command. */
export interface BpfErrorOptions {
  /** What to check or change; appended to the message in parentheses. */
  hint?: string | undefined;
  /** For batches: how many elements were processed before the error. */
  count?: number | undefined;
  /** The kernel's verifier or BTF log, trimmed to what explains the refusal. */
  log?: string | undefined;
  cause?: unknown;
}

/**
 * A bpf(2) command failed. `errno` is positive, `code` its name (`'ENOENT'`),
 * `command` the bpf command (`'BPF_MAP_UPDATE_ELEM'`).
 */
export class BpfError extends Error {
  readonly errno: number;
  readonly code: ErrnoCode;
  readonly command: string;
  /** For batch commands: elements processed before the failure. */
  readonly count: number | undefined;
  /** The kernel's verifier or BTF log (trimmed), when the command has one. */
  readonly log: string | undefined;

  constructor(command: string, errno: number, options: BpfErrorOptions = {}) {
    const code = errnoName(errno);
    const parts = [options.hint, options.count === undefined ? undefined : `${options.count} elements processed`];
    const detail = parts.filter(Boolean).join('; ');
    super(
      `${command}: ${code}${detail ? ` (${detail})` : ''}${options.log ? `\n${options.log}` : ''}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'BpfError';
    this.errno = errno;
    this.code = code;
    this.command = command;
    this.count = options.count;
    this.log = options.log;
  }

  /** True when `err` is a `BpfError`, with code `code` if one is given. */
  static is(err: unknown, code?: ErrnoCode): err is BpfError {
    return err instanceof BpfError && (code === undefined || err.code === code);
  }
}

/**
 * The running kernel lacks a feature: names the feature and the first Linux
 * release that has it.
 */
export class BpfUnsupportedError extends BpfError {
  readonly feature: string;
  readonly minKernel: string;

  constructor(command: string, errno: number, feature: string, minKernel: string, options: BpfErrorOptions = {}) {
    super(command, errno, {
      ...options,
      hint: `${feature} needs Linux ${minKernel} or later${options.hint ? `; ${options.hint}` : ''}`,
    });
    this.name = 'BpfUnsupportedError';
    this.feature = feature;
    this.minKernel = minKernel;
  }
}

/** The error every operation on a closed map or program throws before any syscall. */
export function closedError(command: string, what = 'map'): BpfError {
  return new BpfError(command, errnoNumber('EBADF'), {
    hint: `the ${what} is closed; its fd may already belong to another object`,
  });
}
