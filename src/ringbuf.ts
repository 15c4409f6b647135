/**
 * Reading a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) from userspace.
 *
 * The kernel maps the ring as a consumer page (writable: the consumer
 * position), then a producer page (the producer position) followed by the
 * data area mapped twice in a row, so a record that wraps is still
 * contiguous. Each record has an 8-byte header: its length (with BUSY and
 * DISCARD bits) and a page offset; records are 8-byte aligned.
 *
 * Waiting costs nothing: a worker thread blocks in epoll_wait(2) on the map
 * fd and wakes the reader when the producer has moved, only when the reader
 * has asked for it (so it never spins on a ring that is readable but not yet
 * drained). Records come out in the order the kernel committed them.
 */
import { Worker } from 'node:worker_threads';
import { BpfError } from './errors.js';
import type { BpfMap } from './map.js';
import { addonPath } from './sys/addon.js';
import { PAGE_SIZE, mmapFd, unmapBuffer } from './sys/bpf.js';
import { MapType } from './sys/uapi.js';

const BUSY = 0x8000_0000;
const DISCARD = 0x4000_0000;
const HEADER = 8;

/** The worker: waits for the main thread to arm it, then blocks in epoll_wait until the ring is readable. */
const WAITER = `(() => {
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.addonPath);
const flag = new Int32Array(workerData.flag);
const ep = addon.epollCreate();
if (ep < 0 || addon.epollAdd(ep, workerData.fd) < 0) { parentPort.postMessage({ error: -(ep < 0 ? ep : -22) }); return; }
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

export class RingBufReader implements AsyncIterable<Uint8Array> {
  readonly map: BpfMap;
  readonly #size: number;
  readonly #consumer: ArrayBuffer;
  readonly #producer: ArrayBuffer;
  readonly #cons: BigUint64Array;
  readonly #prod: BigUint64Array;
  readonly #data: Uint8Array;
  readonly #dataView: DataView;
  readonly #flag = new Int32Array(new SharedArrayBuffer(4));
  #worker: Worker | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  /** The waiter's failure (epoll refused the fd), thrown to the iterator. */
  #failure: BpfError | undefined;

  /** A reader of the ring buffer map `map` (which must stay open while reading). */
  constructor(map: BpfMap) {
    if (map.type !== MapType.Ringbuf)
      throw new TypeError(`a ring buffer reader needs a ringbuf map; this is ${MapType[map.type] ?? map.type}`);
    const fd = map.fd;
    if (fd < 0) throw new BpfError('mmap', 9, { hint: 'the map is closed' });
    this.map = map;
    this.#size = map.maxEntries;
    const c = mmapFd(fd, PAGE_SIZE, 0, true);
    if (typeof c === 'number') throw new BpfError('mmap', -c, { hint: 'mapping the ring buffer consumer page' });
    const p = mmapFd(fd, PAGE_SIZE + 2 * this.#size, PAGE_SIZE, false);
    if (typeof p === 'number') {
      unmapBuffer(c);
      throw new BpfError('mmap', -p, { hint: 'mapping the ring buffer producer page and data' });
    }
    this.#consumer = c;
    this.#producer = p;
    this.#cons = new BigUint64Array(c, 0, 1);
    this.#prod = new BigUint64Array(p, 0, 1);
    this.#data = new Uint8Array(p, PAGE_SIZE, 2 * this.#size);
    this.#dataView = new DataView(p, PAGE_SIZE, 2 * this.#size);
  }

  /** Bytes the producer has written that this reader has not consumed yet. */
  get pending(): number {
    if (this.#closed) return 0;
    return Number(Atomics.load(this.#prod, 0) - Atomics.load(this.#cons, 0));
  }

  /**
   * The next committed record (a copy), or undefined when the ring is empty
   * or its next record is still being written. Never blocks.
   */
  read(): Uint8Array | undefined {
    if (this.#closed) throw new BpfError('read', 9, { hint: 'the ring buffer reader is closed' });
    const mask = BigInt(this.#size - 1);
    for (;;) {
      const cons = Atomics.load(this.#cons, 0);
      const prod = Atomics.load(this.#prod, 0);
      if (cons >= prod) return undefined;
      const off = Number(cons & mask);
      const header = Atomics.load(new Uint32Array(this.#data.buffer, this.#data.byteOffset + off, 1), 0) >>> 0;
      if (header & BUSY) return undefined;
      const len = header & ~(BUSY | DISCARD);
      const total = (len + HEADER + 7) & ~7;
      const record = header & DISCARD ? undefined : this.#data.slice(off + HEADER, off + HEADER + len);
      Atomics.store(this.#cons, 0, cons + BigInt(total));
      if (record !== undefined) return record;
    }
  }

  /** Resolves when the ring has data (or the reader is closed), without polling. */
  #waitReadable(): Promise<void> {
    if (this.pending > 0 || this.#closed) return Promise.resolve();
    if (!this.#worker) {
      this.#worker = new Worker(WAITER, {
        eval: true,
        workerData: { addonPath, fd: this.map.fd, flag: this.#flag.buffer },
      });
      this.#worker.unref();
      this.#worker.on('message', (m: { ready?: boolean; error?: number }) => {
        if (m.error !== undefined) this.#failure = new BpfError('epoll_ctl', m.error, { hint: 'waiting on the ring buffer fd' });
        this.#wake?.();
      });
      this.#worker.on('error', (err) => {
        this.#failure = new BpfError('epoll_wait', 5, { hint: `the ring buffer waiter failed: ${err.message}`, cause: err });
        this.#wake?.();
      });
    }
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
      Atomics.store(this.#flag, 0, 1);
      Atomics.notify(this.#flag, 0);
      // The producer may have moved between the check above and arming the waiter.
      if (this.pending > 0 && Atomics.compareExchange(this.#flag, 0, 1, 0) === 1) this.#wake();
    });
  }

  /** Records as they arrive, in order; ends when `close()` is called. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    while (!this.#closed) {
      const r = this.read();
      if (r !== undefined) {
        yield r;
        continue;
      }
      await this.#waitReadable();
      if (this.#failure) throw this.#failure;
    }
  }

  /** Stops the waiter and releases the mappings. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#flag, 0, 2);
    Atomics.notify(this.#flag, 0);
    this.#worker?.terminate();
    this.#wake?.();
    unmapBuffer(this.#consumer);
    unmapBuffer(this.#producer);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
