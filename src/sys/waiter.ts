/**
 * Waiting for fds to become readable without polling and without blocking
 * the event loop: a worker thread blocks in epoll_wait(2) on them and posts a
 * message, but only after the main thread has armed it (so a readable fd that
 * has not been drained yet cannot make it spin). Used by the ring buffer and
 * perf event readers.
 */
import { Worker } from 'node:worker_threads';
import { BpfError } from '../errors.js';
import { addonPath } from './addon.js';

const WAITER = `(() => {
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.addonPath);
const flag = new Int32Array(workerData.flag);
const ep = addon.epollCreate();
if (ep < 0) { parentPort.postMessage({ error: -ep }); return; }
for (const fd of workerData.fds) {
  const r = addon.epollAdd(ep, fd);
  if (r < 0) { parentPort.postMessage({ error: -r }); return; }
}
// Some fds (perf events) report readiness once per wakeup: data that came before they were added here
// may never be reported, so the main thread looks for itself now.
parentPort.postMessage({ registered: true });
for (;;) {
  Atomics.wait(flag, 0, 0);          // 0: idle; 1: armed; 2: stop
  if (Atomics.load(flag, 0) === 2) break;
  const r = addon.epollWait(ep, 200); // short timeouts so that stop is noticed
  if (Atomics.load(flag, 0) === 2) break;
  if (r > 0 && Atomics.compareExchange(flag, 0, 1, 0) === 1) parentPort.postMessage({ ready: true });
}
addon.close(ep);
})();
`;

export class FdWaiter {
  readonly #fds: readonly number[];
  readonly #flag = new Int32Array(new SharedArrayBuffer(4));
  #worker: Worker | undefined;
  #wake: (() => void) | undefined;
  #failure: BpfError | undefined;
  #closed = false;
  #ready: (() => boolean) | undefined;

  constructor(fds: readonly number[]) {
    this.#fds = fds;
  }

  /** Resolves once one of the fds is readable (or at once when `ready()` already says so, or on close). */
  wait(ready: () => boolean): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed || ready()) return Promise.resolve();
    if (!this.#worker) {
      this.#worker = new Worker(WAITER, { eval: true, workerData: { addonPath, fds: this.#fds, flag: this.#flag.buffer } });
      this.#worker.unref();
      this.#worker.on('message', (m: { ready?: boolean; registered?: boolean; error?: number }) => {
        if (m.error !== undefined) this.#failure = new BpfError('epoll_ctl', m.error, { hint: 'waiting on the fds to read' });
        if (m.registered && !(this.#ready?.() && Atomics.compareExchange(this.#flag, 0, 1, 0) === 1)) return;
        this.#wake?.();
      });
      this.#worker.on('error', (err) => {
        this.#failure = new BpfError('epoll_wait', 5, { hint: `the waiter thread failed: ${err.message}`, cause: err });
        this.#wake?.();
      });
    }
    this.#ready = ready;
    return new Promise((resolve, reject) => {
      this.#wake = () => {
        this.#wake = undefined;
        if (this.#failure) reject(this.#failure);
        else resolve();
      };
      Atomics.store(this.#flag, 0, 1);
      Atomics.notify(this.#flag, 0);
      // Data may have arrived between the check above and arming the waiter.
      if (ready() && Atomics.compareExchange(this.#flag, 0, 1, 0) === 1) this.#wake();
    });
  }

  /** Stops the waiter thread; a pending wait resolves. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#flag, 0, 2);
    Atomics.notify(this.#flag, 0);
    this.#worker?.terminate();
    this.#wake?.();
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
