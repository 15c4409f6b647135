/**
 * `OwnedFd`: the fd ownership every kernel object handle shares (BTF objects,
 * programs): one owner closes the fd once; `close()` is idempotent; a handle
 * dropped without closing is closed by the garbage collector (fd.ts); a
 * closed handle throws EBADF instead of reaching an fd number reused since.
 * (`BpfMap` keeps its own copy of this logic in private fields: its element
 * operations read the fd on the hot path.)
 */
import { closedError } from '../errors.js';
import { own, release } from './fd.js';

export abstract class OwnedFd {
  #fd: number;
  /** What the handle is, for the closed-handle error: `program`, `BTF object`. */
  protected abstract readonly what: string;

  protected constructor(fd: number) {
    this.#fd = fd;
    own(this, fd);
  }

  /** The fd, or -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** The fd, or a `BpfError` EBADF naming `command` once closed. */
  liveFd(command: string): number {
    if (this.#fd < 0) throw closedError(command, this.what);
    return this.#fd;
  }

  /** Closes the fd. Idempotent; the kernel object lives on while others hold it. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    release(this, fd);
  }

  /** Same as `close()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.close();
  }
}
