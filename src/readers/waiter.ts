/**
 * Waiting for fds to become readable without polling and without blocking
 * the event loop: a worker thread blocks in epoll_wait(2) on them and posts a
 * message, but only after the main thread has armed it (so a readable fd that
 * has not been drained yet cannot make it spin). Used by the ring buffer and
 * perf event readers.
 *
 * Ownership: the main thread creates the epoll fd and closes it, only after
 * the thread has exited (so the thread never waits on a number reused since).
 * The thread's listeners hold the waiter weakly: a reader dropped while a loop
 * waits is collected, and collecting it stops the thread and closes the fd.
 * Any number of loops may wait at once; `close()` ends them all.
 */
import type { Worker } from 'node:worker_threads';
import { BpfError, errnoNumber } from '../errors.js';
import { closeFd } from '../sys/bpf.js';
import { epollAdd, epollCreate, startEpollThread } from '../sys/epoll.js';

/** How often a waiting loop looks at its reader without a wakeup: a map closed under it, a missed wakeup. */
const RECHECK_MS = 250;

/** What stopping a waiter needs, held apart from the waiter so that collecting it can stop the thread. */
interface Core {
  readonly flag: Int32Array;
  ep: number;
  worker: Worker | undefined;
  timer: ReturnType<typeof setInterval> | undefined;
  stopped: boolean;
}

function stop(core: Core): void {
  if (core.stopped) return;
  core.stopped = true;
  Atomics.store(core.flag, 0, 2);
  Atomics.notify(core.flag, 0);
  clearInterval(core.timer);
  core.timer = undefined;
  // With a thread, its exit closes the epoll fd (see start); without, nothing else has it.
  if (core.worker) void core.worker.terminate();
  else if (core.ep >= 0) closeFd(core.ep);
}

const collected = new FinalizationRegistry<Core>(stop);

export class FdWaiter {
  readonly #fds: readonly number[];
  readonly #core: Core = {
    flag: new Int32Array(new SharedArrayBuffer(4)),
    ep: -1,
    worker: undefined,
    timer: undefined,
    stopped: false,
  };
  readonly #wakers = new Set<() => void>();
  #failure: BpfError | undefined;
  #closed = false;
  #ready: (() => boolean) | undefined;

  constructor(fds: readonly number[]) {
    this.#fds = fds;
    collected.register(this, this.#core, this);
  }

  /** Creates the epoll fd (registering the fds now, so errors surface here) and starts the thread. */
  #start(): void {
    const core = this.#core;
    const ep = epollCreate();
    if (ep < 0) throw new BpfError('epoll_create1', -ep, { hint: 'waiting on the fds to read' });
    core.ep = ep;
    for (const fd of this.#fds) {
      const r = epollAdd(ep, fd);
      if (r < 0) throw new BpfError('epoll_ctl', -r, { hint: `waiting on fd ${fd}` });
    }
    const worker = startEpollThread(ep, core.flag);
    core.worker = worker;
    FdWaiter.#listen(worker, new WeakRef(this), ep);
    worker.unref(); // after the listeners (adding one refs the thread's port); wait() refs it while a loop waits
  }

  /**
   * The thread's listeners, made here (not in a method whose closures see `this`) so that they hold the
   * waiter only weakly: a running thread must not keep a dropped reader alive.
   */
  static #listen(worker: Worker, self: WeakRef<FdWaiter>, ep: number): void {
    worker.on('exit', () => closeFd(ep));
    worker.on('message', (m: { ready?: boolean; error?: number }) => {
      const w = self.deref();
      if (!w) return;
      if (m.error !== undefined) w.#failure = new BpfError('epoll_wait', m.error, { hint: 'waiting on the fds to read' });
      w.#wakeAll();
    });
    worker.on('error', (err) => {
      const w = self.deref();
      if (!w) return;
      w.#failure = new BpfError('epoll_wait', errnoNumber('EIO'), {
        hint: `the waiter thread failed: ${err.message}`,
        cause: err,
      });
      w.#wakeAll();
    });
  }

  /** The recheck timer's callback; like the listeners, it holds the waiter weakly. */
  static #tick(self: WeakRef<FdWaiter>): void {
    const w = self.deref();
    if (w) w.#recheck();
  }

  #wakeAll(): void {
    clearInterval(this.#core.timer);
    this.#core.timer = undefined;
    this.#core.worker?.unref();
    for (const wake of [...this.#wakers]) wake();
  }

  /** Wakes the loops when `ready()` says so without a message from the thread. */
  #recheck(): void {
    if (this.#closed || this.#ready?.()) {
      Atomics.compareExchange(this.#core.flag, 0, 1, 0);
      this.#wakeAll();
    }
  }

  /** Resolves once one of the fds is readable (or at once when `ready()` already says so, or on close). */
  wait(ready: () => boolean): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed || ready()) return Promise.resolve();
    if (!this.#core.worker) {
      try {
        this.#start();
      } catch (err) {
        this.#failure = err as BpfError;
        stop(this.#core);
        return Promise.reject(err);
      }
    }
    this.#ready = ready;
    return new Promise((resolve, reject) => {
      const wake = () => {
        this.#wakers.delete(wake);
        if (this.#failure) reject(this.#failure);
        else resolve();
      };
      this.#wakers.add(wake);
      const core = this.#core;
      core.worker?.ref(); // a loop waiting for records keeps the process alive, as a socket being read does
      Atomics.store(core.flag, 0, 1);
      Atomics.notify(core.flag, 0);
      if (core.timer === undefined) {
        core.timer = setInterval(FdWaiter.#tick, RECHECK_MS, new WeakRef(this));
        core.timer.unref();
      }
      // Data may have arrived before the fds were registered or between the check above and arming the thread.
      if (ready() && Atomics.compareExchange(core.flag, 0, 1, 0) === 1) this.#wakeAll();
    });
  }

  /** Stops the waiter thread (its epoll fd is closed once it has exited); every pending wait resolves. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    collected.unregister(this);
    stop(this.#core);
    this.#wakeAll();
  }
}

/**
 * Yields what `read()` returns until `closed()`; when `read()` has nothing,
 * waits on `waiter` until `ready()`. The loop behind the readers' async iterators.
 */
export async function* readUntilClosed<T>(
  read: () => T | undefined,
  waiter: FdWaiter,
  ready: () => boolean,
  closed: () => boolean,
): AsyncGenerator<T, void, undefined> {
  while (!closed()) {
    const r = read();
    if (r !== undefined) {
      yield r;
      continue;
    }
    await waiter.wait(ready);
  }
}
