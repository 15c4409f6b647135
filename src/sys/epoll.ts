/**
 * epoll(7) for the readers' waiter (readers/waiter.ts holds the policy): creating the epoll fd,
 * registering fds, and the thread that blocks in epoll_wait(2). The thread waits on `flag[0]`:
 * 0 idle, 1 armed (the main thread wants one wakeup), 2 stop; it posts `{ ready: true }` when an fd
 * became readable while armed, `{ error: errno }` when epoll_wait failed.
 */
import { Worker } from 'node:worker_threads';
import { errnoNumber } from '../errors.js';
import { addon, addonPath } from './addon.js';

const WAITER = `(() => {
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.addonPath);
const flag = new Int32Array(workerData.flag);
const ep = workerData.ep;
const EINTR = workerData.eintr;
for (;;) {
  Atomics.wait(flag, 0, 0);          // 0: idle; 1: armed; 2: stop
  if (Atomics.load(flag, 0) === 2) break;
  const r = addon.epollWait(ep, 200); // short timeouts so that stop is noticed
  if (Atomics.load(flag, 0) === 2) break;
  if (r < 0 && r !== -EINTR) { parentPort.postMessage({ error: -r }); break; }
  if (r > 0 && Atomics.compareExchange(flag, 0, 1, 0) === 1) parentPort.postMessage({ ready: true });
}
})();
`;

/** epoll_create1(EPOLL_CLOEXEC): an epoll fd, or -errno. */
export function epollCreate(): number {
  return addon.epollCreate();
}

/** epoll_ctl(EPOLL_CTL_ADD, fd, EPOLLIN): 0 or -errno. */
export function epollAdd(ep: number, fd: number): number {
  return addon.epollAdd(ep, fd);
}

/** Starts the thread that blocks in epoll_wait(2) on `ep` whenever `flag[0]` is 1 (see above). */
export function startEpollThread(ep: number, flag: Int32Array): Worker {
  // execArgv: [] so that the thread runs this script as CommonJS even under --input-type=module.
  return new Worker(WAITER, {
    eval: true,
    execArgv: [],
    workerData: { addonPath, ep, flag: flag.buffer, eintr: errnoNumber('EINTR') },
  });
}
