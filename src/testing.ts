/**
 * bpfmap/testing: the package's second entry, for users' unit tests. `FakeMap` is a BPF map in
 * memory with the kernel's userspace semantics; `FakeRingBufReader` and `FakePerfEventReader`
 * are event readers a test pushes records into. None of them makes a syscall or needs a
 * privilege. Code under test takes a `BpfMapLike` (or `RingBufReaderLike`,
 * `PerfEventReaderLike`, from `bpfmap`) and is handed the real object in production, a fake in tests.
 *
 * @module bpfmap/testing
 */
export { FakeMap } from './testing/fake-map.js';
export { FakePerfEventReader, FakeRingBufReader } from './testing/readers.js';
export type { FakePerfEventReaderOptions, FakeRingBufReaderOptions } from './testing/readers.js';
export type { BpfMapLike, PerfEventReaderLike, RingBufReaderLike } from './index.js';
