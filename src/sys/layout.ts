/**
 * Byte layouts of the `union bpf_attr` variants and info structs we use.
 *
 * Each layout maps a field to its offset; `C` names the C type and member so
 * that test/05.layout.test.mjs can compare every offset and size with what the
 * C compiler says for <linux/bpf.h>. Sizes are `offsetofend` of the last field
 * used, as libbpf passes them: the kernel requires any bytes beyond the fields
 * it knows to be zero.
 */

type FieldSpec = readonly [cMember: string, offset: number, size: number];

export interface LayoutSpec {
  readonly cType: string;
  readonly size: number;
  readonly fields: Readonly<Record<string, FieldSpec>>;
}

type Offsets<F extends Record<string, FieldSpec>> = { readonly [K in keyof F]: number } & {
  readonly SIZE: number;
  readonly SPEC: LayoutSpec;
};

function layout<const F extends Record<string, FieldSpec>>(cType: string, fields: F): Offsets<F> {
  let size = 0;
  const offsets: Record<string, number> = {};
  for (const [name, [, offset, width]] of Object.entries(fields)) {
    offsets[name] = offset;
    size = Math.max(size, offset + width);
  }
  return Object.freeze({ ...offsets, SIZE: size, SPEC: { cType, size, fields } }) as Offsets<F>;
}

/** BPF_MAP_CREATE. */
export const MapCreateAttr = layout('union bpf_attr', {
  mapType: ['map_type', 0, 4],
  keySize: ['key_size', 4, 4],
  valueSize: ['value_size', 8, 4],
  maxEntries: ['max_entries', 12, 4],
  mapFlags: ['map_flags', 16, 4],
  innerMapFd: ['inner_map_fd', 20, 4],
  numaNode: ['numa_node', 24, 4],
  mapName: ['map_name', 28, 16],
  mapIfindex: ['map_ifindex', 44, 4],
  btfFd: ['btf_fd', 48, 4],
  btfKeyTypeId: ['btf_key_type_id', 52, 4],
  btfValueTypeId: ['btf_value_type_id', 56, 4],
  btfVmlinuxValueTypeId: ['btf_vmlinux_value_type_id', 60, 4],
  mapExtra: ['map_extra', 64, 8],
});

/** BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, FREEZE. */
export const MapElemAttr = layout('union bpf_attr', {
  mapFd: ['map_fd', 0, 4],
  key: ['key', 8, 8],
  value: ['value', 16, 8],
  nextKey: ['next_key', 16, 8],
  flags: ['flags', 24, 8],
});

/** BPF_MAP_*_BATCH. */
export const MapBatchAttr = layout('union bpf_attr', {
  inBatch: ['batch.in_batch', 0, 8],
  outBatch: ['batch.out_batch', 8, 8],
  keys: ['batch.keys', 16, 8],
  values: ['batch.values', 24, 8],
  count: ['batch.count', 32, 4],
  mapFd: ['batch.map_fd', 36, 4],
  elemFlags: ['batch.elem_flags', 40, 8],
  flags: ['batch.flags', 48, 8],
});

/** BPF_OBJ_PIN, BPF_OBJ_GET. */
export const ObjAttr = layout('union bpf_attr', {
  pathname: ['pathname', 0, 8],
  bpfFd: ['bpf_fd', 8, 4],
  fileFlags: ['file_flags', 12, 4],
});

/** BPF_*_GET_NEXT_ID, BPF_*_GET_FD_BY_ID. */
export const GetIdAttr = layout('union bpf_attr', {
  startId: ['start_id', 0, 4],
  mapId: ['map_id', 0, 4],
  nextId: ['next_id', 4, 4],
  openFlags: ['open_flags', 8, 4],
});

/** BPF_OBJ_GET_INFO_BY_FD. */
export const InfoAttr = layout('union bpf_attr', {
  bpfFd: ['info.bpf_fd', 0, 4],
  infoLen: ['info.info_len', 4, 4],
  info: ['info.info', 8, 8],
});

/** `struct bpf_map_info`, as filled by BPF_OBJ_GET_INFO_BY_FD. */
export const MapInfoLayout = layout('struct bpf_map_info', {
  type: ['type', 0, 4],
  id: ['id', 4, 4],
  keySize: ['key_size', 8, 4],
  valueSize: ['value_size', 12, 4],
  maxEntries: ['max_entries', 16, 4],
  mapFlags: ['map_flags', 20, 4],
  name: ['name', 24, 16],
  ifindex: ['ifindex', 40, 4],
  btfVmlinuxValueTypeId: ['btf_vmlinux_value_type_id', 44, 4],
  netnsDev: ['netns_dev', 48, 8],
  netnsIno: ['netns_ino', 56, 8],
  btfId: ['btf_id', 64, 4],
  btfKeyTypeId: ['btf_key_type_id', 68, 4],
  btfValueTypeId: ['btf_value_type_id', 72, 4],
  mapExtra: ['map_extra', 80, 8],
});

/** BPF_BTF_LOAD. (btf_log_true_size, Linux 6.4+, is left out: the kernel's own header here is older.) */
export const BtfLoadAttr = layout('union bpf_attr', {
  btf: ['btf', 0, 8],
  btfLogBuf: ['btf_log_buf', 8, 8],
  btfSize: ['btf_size', 16, 4],
  btfLogSize: ['btf_log_size', 20, 4],
  btfLogLevel: ['btf_log_level', 24, 4],
});

/** `struct bpf_btf_info` (BPF_OBJ_GET_INFO_BY_FD on a BTF fd). */
export const BtfInfoLayout = layout('struct bpf_btf_info', {
  btf: ['btf', 0, 8],
  btfSize: ['btf_size', 8, 4],
  id: ['id', 12, 4],
  name: ['name', 16, 8],
  nameLen: ['name_len', 24, 4],
  kernelBtf: ['kernel_btf', 28, 4],
});

/** BPF_PROG_LOAD (up to attach_btf_obj_fd). */
export const ProgLoadAttr = layout('union bpf_attr', {
  progType: ['prog_type', 0, 4],
  insnCnt: ['insn_cnt', 4, 4],
  insns: ['insns', 8, 8],
  license: ['license', 16, 8],
  logLevel: ['log_level', 24, 4],
  logSize: ['log_size', 28, 4],
  logBuf: ['log_buf', 32, 8],
  kernVersion: ['kern_version', 40, 4],
  progFlags: ['prog_flags', 44, 4],
  progName: ['prog_name', 48, 16],
  progIfindex: ['prog_ifindex', 64, 4],
  expectedAttachType: ['expected_attach_type', 68, 4],
  progBtfFd: ['prog_btf_fd', 72, 4],
  funcInfoRecSize: ['func_info_rec_size', 76, 4],
  funcInfo: ['func_info', 80, 8],
  funcInfoCnt: ['func_info_cnt', 88, 4],
  lineInfoRecSize: ['line_info_rec_size', 92, 4],
  lineInfo: ['line_info', 96, 8],
  lineInfoCnt: ['line_info_cnt', 104, 4],
  attachBtfId: ['attach_btf_id', 108, 4],
  attachBtfObjFd: ['attach_btf_obj_fd', 112, 4],
  fdArray: ['fd_array', 120, 8],
});

/** BPF_PROG_TEST_RUN. */
export const TestRunAttr = layout('union bpf_attr', {
  progFd: ['test.prog_fd', 0, 4],
  retval: ['test.retval', 4, 4],
  dataSizeIn: ['test.data_size_in', 8, 4],
  dataSizeOut: ['test.data_size_out', 12, 4],
  dataIn: ['test.data_in', 16, 8],
  dataOut: ['test.data_out', 24, 8],
  repeat: ['test.repeat', 32, 4],
  duration: ['test.duration', 36, 4],
  ctxSizeIn: ['test.ctx_size_in', 40, 4],
  ctxSizeOut: ['test.ctx_size_out', 44, 4],
  ctxIn: ['test.ctx_in', 48, 8],
  ctxOut: ['test.ctx_out', 56, 8],
  flags: ['test.flags', 64, 4],
  cpu: ['test.cpu', 68, 4],
});

/** `struct bpf_prog_info` (the fields we read). */
export const ProgInfoLayout = layout('struct bpf_prog_info', {
  type: ['type', 0, 4],
  id: ['id', 4, 4],
  tag: ['tag', 8, 8],
  nrMapIds: ['nr_map_ids', 52, 4],
  mapIds: ['map_ids', 56, 8],
  name: ['name', 64, 16],
  btfId: ['btf_id', 128, 4],
  runTimeNs: ['run_time_ns', 192, 8],
  runCnt: ['run_cnt', 200, 8],
});

/** `struct bpf_link_info`: the common head and the raw tracepoint member of its union. */
export const LinkInfoLayout = layout('struct bpf_link_info', {
  type: ['type', 0, 4],
  id: ['id', 4, 4],
  progId: ['prog_id', 8, 4],
  tpName: ['raw_tracepoint.tp_name', 16, 8],
  tpNameLen: ['raw_tracepoint.tp_name_len', 24, 4],
});

/** BPF_PROG_ATTACH, BPF_PROG_DETACH. */
export const ProgAttachAttr = layout('union bpf_attr', {
  targetFd: ['target_fd', 0, 4],
  attachBpfFd: ['attach_bpf_fd', 4, 4],
  attachType: ['attach_type', 8, 4],
  attachFlags: ['attach_flags', 12, 4],
});

/** `struct perf_event_attr`, first published size (PERF_ATTR_SIZE_VER0): what a BPF output event needs. */
export const PerfEventAttr = layout('struct perf_event_attr', {
  type: ['type', 0, 4],
  size: ['size', 4, 4],
  config: ['config', 8, 8],
  samplePeriod: ['sample_period', 16, 8],
  sampleType: ['sample_type', 24, 8],
  readFormat: ['read_format', 32, 8],
  wakeupEvents: ['wakeup_events', 48, 4],
  bpType: ['bp_type', 52, 4],
  config1: ['config1', 56, 8],
});

/** `struct perf_event_attr` of the uprobe/kprobe PMUs (PERF_ATTR_SIZE_VER1): config1 the path or symbol pointer, config2 the offset. */
export const PerfProbeAttr = layout('struct perf_event_attr', {
  uprobePath: ['uprobe_path', 56, 8],
  kprobeFunc: ['kprobe_func', 56, 8],
  probeOffset: ['probe_offset', 64, 8],
});

/** `struct perf_event_mmap_page`: the ring positions (the data follows at data_offset). */
export const PerfMmapPage = layout('struct perf_event_mmap_page', {
  dataHead: ['data_head', 1024, 8],
  dataTail: ['data_tail', 1032, 8],
  dataOffset: ['data_offset', 1040, 8],
  dataSize: ['data_size', 1048, 8],
});

/** Every layout, for the offset test. */
export const LAYOUTS: Readonly<Record<string, LayoutSpec>> = {
  ProgLoadAttr: ProgLoadAttr.SPEC,
  PerfEventAttr: PerfEventAttr.SPEC,
  PerfProbeAttr: PerfProbeAttr.SPEC,
  PerfMmapPage: PerfMmapPage.SPEC,
  ProgAttachAttr: ProgAttachAttr.SPEC,
  TestRunAttr: TestRunAttr.SPEC,
  ProgInfoLayout: ProgInfoLayout.SPEC,
  LinkInfoLayout: LinkInfoLayout.SPEC,
  BtfLoadAttr: BtfLoadAttr.SPEC,
  BtfInfoLayout: BtfInfoLayout.SPEC,
  MapCreateAttr: MapCreateAttr.SPEC,
  MapElemAttr: MapElemAttr.SPEC,
  MapBatchAttr: MapBatchAttr.SPEC,
  ObjAttr: ObjAttr.SPEC,
  GetIdAttr: GetIdAttr.SPEC,
  InfoAttr: InfoAttr.SPEC,
  MapInfoLayout: MapInfoLayout.SPEC,
};
