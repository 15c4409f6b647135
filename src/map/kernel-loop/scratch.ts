/**
 * The scratch of a kernel loop: a one-element `BPF_F_MMAPABLE` array whose single value holds a
 * header, `cap` keys, `cap` whole values and `cap` found bytes, mapped into this process so that
 * keys go in and values come out without a syscall. The program (program.ts) reads and writes the
 * same bytes through a direct map-value pointer.
 *
 *   [0, 4)   u32 n       records to process (set by userspace) / records written (walks)
 *   [4, 8)   u32 count   keys found (lookups)
 *   [8, 16)  reserved
 *   keys     cap × keySize, from KEYS
 *   values   cap × valueBufferSize, from `values` (8-aligned)
 *   found    cap bytes, from `found`: 1 where key i was present, else 0
 */
import { errnoName } from '../../errors.js';
import { PAGE_SIZE, closeFd, mapCreate, mmapFd, unmapBuffer } from '../../sys/bpf.js';
import { own, release } from '../../sys/fd.js';
import { BPF_F_MMAPABLE, MapType } from '../../sys/uapi.js';

/** Offset of the keys in the scratch value. */
export const KEYS = 16;

/** Where each part of a scratch of `cap` records sits. */
export interface ScratchLayout {
  readonly cap: number;
  readonly keySize: number;
  /** Bytes of one whole value (valueBufferSize). */
  readonly valueSize: number;
  readonly values: number;
  readonly found: number;
  /** The value_size of the scratch map. */
  readonly size: number;
}

export function scratchLayout(cap: number, keySize: number, valueSize: number): ScratchLayout {
  const values = (KEYS + cap * keySize + 7) & ~7;
  const found = values + cap * valueSize;
  return { cap, keySize, valueSize, values, found, size: (found + cap + 7) & ~7 };
}

/** A created and mapped scratch: its fd (closed by `releaseScratch`, or when the scratch is collected) and its bytes. */
export interface Scratch {
  readonly layout: ScratchLayout;
  readonly fd: number;
  readonly bytes: Uint8Array;
  readonly header: Uint32Array;
}

/** Creates and maps a scratch; a string saying why not (an errno name) when the kernel refuses. */
export function createScratch(layout: ScratchLayout): Scratch | string {
  const fd = mapCreate({
    mapType: MapType.Array,
    keySize: 4,
    valueSize: layout.size,
    maxEntries: 1,
    mapFlags: BPF_F_MMAPABLE,
    innerMapFd: 0,
    numaNode: 0,
    name: 'bpfmap_loop',
    mapIfindex: 0,
    btfFd: 0,
    btfKeyTypeId: 0,
    btfValueTypeId: 0,
    btfVmlinuxValueTypeId: 0,
    mapExtra: 0n,
  });
  if (fd < 0) return `scratch map create: ${errnoName(-fd)}`;
  const len = Math.ceil(layout.size / PAGE_SIZE) * PAGE_SIZE;
  const buf = mmapFd(fd, len, 0, true);
  if (typeof buf === 'number') {
    closeFd(fd);
    return `scratch mmap: ${errnoName(-buf)}`;
  }
  const s: Scratch = { layout, fd, bytes: new Uint8Array(buf, 0, layout.size), header: new Uint32Array(buf, 0, 4) };
  own(s, fd); // closed with the scratch if it is dropped unreleased (the mapping goes with its buffer)
  return s;
}

/** Unmaps the scratch and closes its fd now. */
export function releaseScratch(s: Scratch): void {
  unmapBuffer(s.bytes.buffer as ArrayBuffer);
  release(s, s.fd);
}
