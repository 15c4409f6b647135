/// <reference lib="esnext.disposable" preserve="true" />
/**
 * The package's public surface, grouped like API.md: constants, errors, libbpf-shaped functions,
 * `BpfMap`, codecs, utilities, programs, objects, links, … — everything `'bpfmap'` exports except
 * the metrics (§11). src/index.ts re-exports it and adds the metrics, which are built on this
 * surface: metrics/ imports this file, so the entry can re-export metrics/ without an import cycle.
 */

// §1 Constants (values from <linux/bpf.h>)
export * from './sys/uapi.js';

// §2 Errors
export { BpfError, BpfUnsupportedError, errnoName, errnoNumber } from './errors.js';
export type { BpfErrorOptions, ErrnoCode } from './errors.js';

// §3 libbpf-shaped functions
export {
  bpfMapCreate,
  bpfMapDeleteBatch,
  bpfMapLookupAndDeleteBatch,
  bpfMapLookupBatch,
  bpfMapUpdateBatch,
  bpfMapDeleteElem,
  bpfMapFreeze,
  bpfMapGetNextKey,
  bpfMapLookupAndDeleteElem,
  bpfMapLookupElem,
  bpfMapUpdateElem,
  bpfObjGet,
  bpfObjPin,
} from './libbpf.js';
export type { BpfMapCreateOpts, MapRef } from './libbpf.js';
export type { BatchOptions, BatchResult } from './map/batch.js';

// §4 BpfMap
export { BpfMap } from './map/map.js';
export type {
  BatchChunk,
  BatchWalkOptions,
  LookupManyOptions,
  LookupManyResult,
  LookupOptions,
  MapBtf,
  MapCreateOptions,
  MapValue,
  NetSocketLike,
  OpenOptions,
  UpdateOptions,
  UpdateValue,
} from './map/map.js';
export { IterationAbortedError } from './map/iterate.js';
export { ReadOnlyMapping } from './map/mmap.js';

// §5 Codecs
export type { Codec, DecodeOptions, Infer } from './codec/codec.js';
export {
  be16,
  be32,
  be64,
  bool,
  decodeIntValue,
  encodeIntKey,
  f32,
  f64,
  i8,
  i16,
  i32,
  i64,
  u8,
  u16,
  u32,
  u64,
} from './codec/scalar.js';
export type { ScalarCodec, ScalarName, ScalarValue } from './codec/scalar.js';
export { array, bpfSpinLock, cstring, defineStruct } from './codec/struct.js';
export type {
  ArrayType,
  CStringType,
  FieldType,
  FieldValue,
  RecordOf,
  SpinLockType,
  StructField,
  StructOptions,
  StructType,
} from './codec/struct.js';
export { TypedMap } from './map/typed-map.js';
export type { PerCpuTypedMap } from './map/typed-map.js';

// §6 Utilities
export { parseCpuList, possibleCpus } from './sys/cpu.js';
export { lpmIPv4, lpmIPv6, lpmKey } from './codec/lpm.js';
export type { LpmPrefixCodec } from './codec/lpm.js';
export { listMapIds, listMaps } from './map/info.js';
export type { MapFdInfo, MapInfo } from './map/info.js';
export { mapTypeName, mapTypeTraits } from './map/traits.js';
export type { FdValueKind, MapTypeTraits } from './map/traits.js';
export { Btf, mapTypeBtf, trimLog } from './btf/load.js';
export type { MapTypeBtf } from './btf/load.js';
export { BtfBuilder, BtfBuildError } from './btf/build.js';
export { BtfKind } from './btf/kinds.js';
export { Asm, AsmError, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 } from './insn/asm.js';
export type { AluOp, AtomicOp, JmpOp, MapLike, Reg, Size, Target } from './insn/asm.js';
export { BpfProgram, CgroupAttachment, loadProgram } from './prog/program.js';
export type { LoadProgramOptions, TestRunOptions, TestRunResult } from './prog/program.js';
export { linkInfo, listLinks, listPrograms, programInfo } from './prog/info.js';
export type { KernelLinkInfo, ObjectRef, ProgramInfo } from './prog/info.js';
export { BtfCodecError, BtfSpec, readBtf } from './btf/codecs.js';
export { BtfParseError, parseBtf, readBtfBlob } from './btf/parse.js';
export type { BtfBase, BtfEnumValue, BtfMember, BtfParam, BtfType, BtfVarSecinfo } from './btf/parse.js';
export { RingBufReader } from './readers/ringbuf.js';
export { openPidfd } from './map/storage.js';
export { PerfEventReader } from './readers/perf-reader.js';
export type { DecodedPerfRecord, PerfReaderOptions, PerfRecord } from './readers/perf-reader.js';
export { UserRingBufWriter } from './readers/user-ringbuf.js';

// §8 Objects: clang-compiled BPF ELF files
export { ObjectError } from './elf/error.js';
export type { ObjectErrorWhere } from './elf/error.js';
export { ObjectSpec, openObject } from './object/spec.js';
export type { ExternSpec, OpenObjectOptions, ProgramSpec, VariableSpec } from './object/spec.js';
export type { MapOrigin, MapSpec } from './object/maps.js';
export { BpfObject, loadObject } from './object/load.js';
export type { BpfVariable, LoadMapOptions, LoadObjectOptions } from './object/load.js';

// §9 Links (issue 17)
export { Link, linkTypeName, listLinkIds } from './link/link.js';
export type { LegacyHold, LinkInfo, LinkMechanism } from './link/link.js';
export type { LoadInfo } from './prog/program.js';
export { AttachTypeExt, XDP_MODES, syscallSymbol } from './link/attach.js';
export type { PerfEventOptions, XdpMode } from './link/attach.js';
export type { AttachOptions } from './link/section.js';
export { KernelConfigError } from './link/hints.js';
export { TracepointNotFoundError } from './link/tracefs.js';
export { SymbolNotFoundError, symbolFileOffset } from './link/elf-symbols.js';
export { UsdtError, readUsdtNotes } from './link/usdt-notes.js';
export type { UsdtFile, UsdtNote } from './link/usdt-notes.js';
export type { UsdtMaps, UsdtOptions } from './link/usdt.js';

// §10 Generated TypeScript (`bpfmap gen`): the codecs generated modules declare, what their `load()` calls, the generator
export { checkLayout, defineEnum, defineLayout, defineUnion } from './codec/layout.js';
export type {
  DataFields,
  EnumOptions,
  EnumType,
  LayoutBitfield,
  LayoutField,
  LayoutMember,
  LayoutOptions,
  LayoutRecord,
  LayoutValue,
  Simplify,
  UnionRecord,
  UnionType,
} from './codec/layout.js';
export { RawEventSource, TypedPerfBuf, TypedPerfReader, TypedRingBuf, TypedRingBufReader, loadSkeleton } from './gen/runtime.js';
export type {
  Closer,
  Skeleton,
  SkeletonLayout,
  SkeletonLoadOptions,
  SkeletonMapLayout,
  SkeletonVariable,
} from './gen/runtime.js';
export { generateSkeleton, generateTypes } from './gen/skeleton.js';
export type { GenerateOptions } from './gen/skeleton.js';

// §12 Tests without privileges: what BpfMap and bpfmap/testing's FakeMap both implement
export type { BpfMapLike } from './map/interface.js';
export type { PerfEventReaderLike, RingBufReaderLike } from './readers/interface.js';
