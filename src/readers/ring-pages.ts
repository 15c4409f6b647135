/**
 * The memory layout the kernel gives BPF ring buffers (ringbuf and
 * user_ringbuf): a consumer page holding the consumer position, then a
 * producer page holding the producer position, followed by the data area
 * mapped twice in a row so that no record wraps. Records start with an
 * 8-byte header (length with BUSY and DISCARD bits, then a page offset) and
 * are 8-byte aligned. Who may write which page depends on who consumes.
 */
import { BpfError, errnoNumber } from '../errors.js';
import type { MapShape } from '../map/shape.js';
import { PAGE_SIZE, mmapFd, unmapBuffer } from '../sys/bpf.js';

export const RING_BUSY = 0x8000_0000;
export const RING_DISCARD = 0x4000_0000;
export const RING_HEADER = 8;

/** Bytes a record of `len` bytes takes in the ring: header included, rounded up to 8. */
export function ringRecordSize(len: number): number {
  return (len + RING_HEADER + 7) & ~7;
}

export interface RingPages {
  /** The data area's size (the map's max_entries). */
  readonly size: number;
  readonly consumer: ArrayBuffer;
  readonly producer: ArrayBuffer;
  readonly cons: BigUint64Array;
  readonly prod: BigUint64Array;
  /** The data area, mapped twice: `2 × size` bytes. */
  readonly data: Uint8Array;
}

/**
 * Maps a ring's pages. `userProduces`: userspace writes records (user_ringbuf),
 * so the producer side is writable and the consumer page read-only; otherwise
 * the reverse (ringbuf). `what` names the ring in errors.
 */
export function mapRingPages(map: MapShape, userProduces: boolean, what: string): RingPages {
  const fd = map.fd;
  if (fd < 0) throw new BpfError('mmap', errnoNumber('EBADF'), { hint: `the ${what} map is closed` });
  const size = map.maxEntries;
  const consumer = mmapFd(fd, PAGE_SIZE, 0, !userProduces);
  if (typeof consumer === 'number') throw new BpfError('mmap', -consumer, { hint: `mapping the ${what} consumer page` });
  const producer = mmapFd(fd, PAGE_SIZE + 2 * size, PAGE_SIZE, userProduces);
  if (typeof producer === 'number') {
    unmapBuffer(consumer);
    throw new BpfError('mmap', -producer, { hint: `mapping the ${what} producer page and data` });
  }
  return {
    size,
    consumer,
    producer,
    cons: new BigUint64Array(consumer, 0, 1),
    prod: new BigUint64Array(producer, 0, 1),
    data: new Uint8Array(producer, PAGE_SIZE, 2 * size),
  };
}

/** Releases a ring's pages: views of them become empty. */
export function unmapRingPages(r: RingPages): void {
  unmapBuffer(r.consumer);
  unmapBuffer(r.producer);
}
