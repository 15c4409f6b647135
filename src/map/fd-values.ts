/**
 * Map types whose values are kernel objects passed by fd (prog arrays,
 * maps of maps, sockmaps, cgroup arrays, …): which kind of fd each takes,
 * turning objects (`BpfMap`, `BpfProgram`, `net.Socket`, `net.Server`) into
 * their fds, and saying what an fd is when it is the wrong kind; the bytes an fd-valued update sends.
 */
import { closedError } from '../errors.js';
import { fdKind } from '../sys/fd.js';
import { checkBytes } from '../validate.js';
import { type FdValueKind, mapTypeTraits } from './traits.js';

/** What an fd must be for each kind of fd value, as readlink(/proc/self/fd/N) shows it. */
const EXPECTED: Readonly<Record<FdValueKind, { what: string; test: (kind: string) => boolean }>> = {
  program: { what: 'a BPF program', test: (k) => k === 'bpf-prog' },
  map: { what: 'a BPF map', test: (k) => k === 'bpf-map' },
  socket: { what: 'a socket', test: (k) => k.startsWith('socket:') },
  'xsk-socket': { what: 'an AF_XDP socket', test: (k) => k.startsWith('socket:') },
  'perf-event': { what: 'a perf event', test: (k) => k === '[perf_event]' || k === 'perf_event' },
  cgroup: { what: 'a cgroup directory', test: (k) => k.startsWith('/sys/fs/cgroup') },
};

/** True for map types whose update values are fds of kernel objects. */
export function takesFds(type: number): boolean {
  return mapTypeTraits(type)?.fdValue !== undefined;
}

/** The fd behind an object that stands for a kernel object, or undefined for anything else. */
export function objectFd(v: unknown): number | undefined {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || Array.isArray(v)) return undefined;
  const o = v as { fd?: unknown; _handle?: { fd?: unknown } };
  // net.Socket / net.Server: the libuv handle's fd (-1 until connected or listening, or once closed).
  if ('_handle' in o) return typeof o._handle?.fd === 'number' ? o._handle.fd : -1;
  if (typeof o.fd === 'number' && ('closed' in o || 'liveFd' in o)) return o.fd; // BpfMap, BpfProgram
  return undefined;
}

/**
 * Checks that `fd` is what a `type` map takes as a value.
 * @throws {TypeError} naming what the fd is instead.
 */
export function checkValueFd(type: number, fd: number, typeName: string): void {
  const fdValue = mapTypeTraits(type)?.fdValue;
  if (fdValue === undefined) return;
  const want = EXPECTED[fdValue];
  if (fd < 0)
    throw new TypeError(
      `a ${typeName} value must be ${want.what}; this object has no open fd (closed, or not yet connected/listening)`,
    );
  const kind = fdKind(fd);
  if (kind === undefined) throw new TypeError(`a ${typeName} value must be ${want.what}; fd ${fd} is not open`);
  if (!want.test(kind)) throw new TypeError(`a ${typeName} value must be ${want.what}; fd ${fd} is ${kind}`);
}

/**
 * The value of an fd-valued map (prog array, map of maps, sockmap, cgroup array, …) as 4 or 8
 * little-endian bytes in `stage` (at least 8 bytes): an object's fd or raw fd bytes, checked to be
 * the right kind of fd. `isClosedMap` says whether an object is a closed `BpfMap` (EBADF).
 */
export function fdValueBytes(
  m: { readonly type: number; readonly valueSize: number },
  typeName: string,
  value: unknown,
  stage: Uint8Array,
  isClosedMap: (v: unknown) => boolean,
): Uint8Array {
  const size = m.valueSize;
  let fd = objectFd(value);
  if (fd === undefined) {
    const bytes = checkBytes('value', value, size, `the fd of what a ${typeName} map holds`);
    fd =
      size >= 4
        ? (bytes[0] as number) | ((bytes[1] as number) << 8) | ((bytes[2] as number) << 16) | ((bytes[3] as number) << 24)
        : -1;
  } else if (isClosedMap(value)) throw closedError('BPF_MAP_UPDATE_ELEM', 'map given as the value');
  checkValueFd(m.type, fd, typeName);
  if (size !== 4 && size !== 8)
    throw new TypeError(`an fd is stored in 4 or 8 bytes, but this ${typeName} map's value_size is ${size}`);
  const out = stage.subarray(0, size);
  out.fill(0);
  new DataView(out.buffer, out.byteOffset, 4).setUint32(0, fd, true);
  return out;
}
