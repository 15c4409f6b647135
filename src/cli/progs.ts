/**
 * `bpfmap prog list|show` and `bpfmap link list|show`: what bpftool's
 * `prog show` and `link show` print, from BPF_OBJ_GET_INFO_BY_FD. Programs:
 * id, type, name, tag, the maps they use, their BTF id, and run time/count
 * when statistics are on (sysctl kernel.bpf_stats_enabled=1). Links: id,
 * type, program id, and the tracepoint name of raw tracepoint links.
 */
import { BpfError } from '../errors.js';
import { Cmd, cPath, closeFd, getFdById, getNextId, objGet, objGetInfo, objGetInfoPointing } from '../sys/bpf.js';
import * as L from '../sys/layout.js';
import { ProgType } from '../sys/uapi.js';
import { type Parsed, UsageError, type Words, parseCount } from './args.js';
import type { Io } from './verbs.js';
import { json, table } from './output.js';

const ENOENT = 2;

/** `socket_filter`, `raw_tracepoint`, … as bpftool spells program types. */
export function progTypeName(type: number): string {
  const n = ProgType[type] as string | undefined;
  if (n) return n.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  return type === 32 ? 'netfilter' : `type_${type}`;
}

const LINK_TYPES = [
  'unspec',
  'raw_tracepoint',
  'tracing',
  'cgroup',
  'iter',
  'netns',
  'xdp',
  'perf_event',
  'kprobe_multi',
  'struct_ops',
  'netfilter',
  'tcx',
  'uprobe_multi',
  'netkit',
  'sockmap',
];

function ids(cmd: number): number[] {
  const out: number[] = [];
  for (let id = 0; ; ) {
    const r = getNextId(cmd, id);
    if (r.ret === -ENOENT) return out;
    if (r.ret < 0) throw new BpfError(cmd === Cmd.BPF_PROG_GET_NEXT_ID ? 'BPF_PROG_GET_NEXT_ID' : 'BPF_LINK_GET_NEXT_ID', -r.ret);
    id = r.nextId;
    out.push(id);
  }
}

export interface ProgDescription {
  id: number;
  type: string;
  name: string;
  tag: string;
  map_ids?: number[];
  btf_id?: number;
  run_time_ns?: number;
  run_cnt?: number;
}

function describeProg(fd: number): ProgDescription {
  const info = new Uint8Array(L.ProgInfoLayout.SIZE);
  const r = objGetInfo(fd, info);
  if (r.ret < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r.ret);
  let v = new DataView(info.buffer);
  const nMaps = v.getUint32(L.ProgInfoLayout.nrMapIds, true);
  let mapIds: number[] = [];
  if (nMaps > 0) {
    // Second call: map_ids points at room for nr_map_ids u32s.
    const buf = new Uint8Array(4 * nMaps);
    const again = new Uint8Array(L.ProgInfoLayout.SIZE);
    new DataView(again.buffer).setUint32(L.ProgInfoLayout.nrMapIds, nMaps, true);
    const r2 = objGetInfoPointing(fd, again, L.ProgInfoLayout.mapIds, buf);
    if (r2 < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r2);
    v = new DataView(again.buffer);
    const got = Math.min(nMaps, v.getUint32(L.ProgInfoLayout.nrMapIds, true));
    const bv = new DataView(buf.buffer);
    mapIds = Array.from({ length: got }, (_, i) => bv.getUint32(4 * i, true));
  }
  const name = info.subarray(L.ProgInfoLayout.name, L.ProgInfoLayout.name + 16);
  const nul = name.indexOf(0);
  const d: ProgDescription = {
    id: v.getUint32(L.ProgInfoLayout.id, true),
    type: progTypeName(v.getUint32(L.ProgInfoLayout.type, true)),
    name: Buffer.from(nul < 0 ? name : name.subarray(0, nul)).toString('latin1'),
    tag: Buffer.from(info.subarray(L.ProgInfoLayout.tag, L.ProgInfoLayout.tag + 8)).toString('hex'),
  };
  if (mapIds.length) d.map_ids = mapIds;
  const btfId = v.getUint32(L.ProgInfoLayout.btfId, true);
  if (btfId) d.btf_id = btfId;
  const runTime = v.getBigUint64(L.ProgInfoLayout.runTimeNs, true);
  const runCnt = v.getBigUint64(L.ProgInfoLayout.runCnt, true);
  if (runTime || runCnt) {
    d.run_time_ns = Number(runTime);
    d.run_cnt = Number(runCnt);
  }
  return d;
}

export interface LinkDescription {
  id: number;
  type: string;
  prog_id: number;
  tp_name?: string;
}

function describeLink(fd: number): LinkDescription {
  const info = new Uint8Array(L.LinkInfoLayout.SIZE);
  const r = objGetInfo(fd, info);
  if (r.ret < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r.ret);
  let v = new DataView(info.buffer);
  const type = v.getUint32(L.LinkInfoLayout.type, true);
  const d: LinkDescription = {
    id: v.getUint32(L.LinkInfoLayout.id, true),
    type: LINK_TYPES[type] ?? `type_${type}`,
    prog_id: v.getUint32(L.LinkInfoLayout.progId, true),
  };
  if (type === 1) {
    const len = v.getUint32(L.LinkInfoLayout.tpNameLen, true);
    if (len > 0 && len <= 4096) {
      const buf = new Uint8Array(len);
      const again = new Uint8Array(L.LinkInfoLayout.SIZE);
      new DataView(again.buffer).setUint32(L.LinkInfoLayout.tpNameLen, len, true);
      if (objGetInfoPointing(fd, again, L.LinkInfoLayout.tpName, buf) >= 0) {
        v = new DataView(again.buffer);
        const nul = buf.indexOf(0);
        d.tp_name = Buffer.from(nul < 0 ? buf : buf.subarray(0, nul)).toString('latin1');
      }
    }
  }
  return d;
}

type Kind = 'prog' | 'link';
const CMDS = {
  prog: { next: Cmd.BPF_PROG_GET_NEXT_ID, byId: Cmd.BPF_PROG_GET_FD_BY_ID, byIdName: 'BPF_PROG_GET_FD_BY_ID' },
  link: { next: Cmd.BPF_LINK_GET_NEXT_ID, byId: Cmd.BPF_LINK_GET_FD_BY_ID, byIdName: 'BPF_LINK_GET_FD_BY_ID' },
} as const;

function describer(kind: Kind): (fd: number) => ProgDescription | LinkDescription {
  return kind === 'prog' ? describeProg : describeLink;
}

function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    closeFd(fd);
  }
}

function describeAll(kind: Kind): (ProgDescription | LinkDescription)[] {
  const out: (ProgDescription | LinkDescription)[] = [];
  for (const id of ids(CMDS[kind].next)) {
    const fd = getFdById(CMDS[kind].byId, id);
    if (fd === -ENOENT) continue; // gone meanwhile
    if (fd < 0) throw new BpfError(CMDS[kind].byIdName, -fd, { hint: `${kind} id ${id}` });
    out.push(withFd(fd, describer(kind)));
  }
  return out;
}

/** `id N` or `pinned PATH`: one object. */
function describeOne(kind: Kind, w: Words): ProgDescription | LinkDescription {
  const how = w.next(`${kind} reference (id N or pinned PATH)`);
  let fd: number;
  if (how === 'id') {
    const id = parseCount(w.next(`${kind} id`), `${kind} id`, w.verb);
    fd = getFdById(CMDS[kind].byId, id);
    if (fd < 0) throw new BpfError(CMDS[kind].byIdName, -fd, { hint: -fd === ENOENT ? `no ${kind} has id ${id}` : undefined });
  } else if (how === 'pinned') {
    const path = w.next('pinned path');
    fd = objGet(cPath(path), 0);
    if (fd < 0) throw new BpfError('BPF_OBJ_GET', -fd, { hint: path });
  } else throw new UsageError(`${w.verb}: expected id N or pinned PATH, got ${JSON.stringify(how)}`, w.verb);
  w.end();
  return withFd(fd, describer(kind));
}

function progLines(d: ProgDescription): string {
  return [
    `${d.id}: ${d.type}  name ${d.name || '-'}  tag ${d.tag}`,
    ...(d.map_ids ? [`\tmap_ids ${d.map_ids.join(',')}`] : []),
    ...(d.btf_id ? [`\tbtf_id ${d.btf_id}`] : []),
    ...(d.run_cnt !== undefined ? [`\trun_time_ns ${d.run_time_ns}  run_cnt ${d.run_cnt}`] : []),
  ].join('\n');
}

function linkLines(d: LinkDescription): string {
  return `${d.id}: ${d.type}  prog ${d.prog_id}${d.tp_name ? `\n\ttp_name ${d.tp_name}` : ''}`;
}

/** `prog list|show [id N | pinned PATH]`, `link list|show [id N | pinned PATH]`. */
export function objectVerb(kind: Kind, w: Words, p: Parsed, io: Io) {
  const sub = w.peek() === undefined ? 'show' : w.next('verb');
  if (sub !== 'list' && sub !== 'show') throw new UsageError(`${kind}: unknown verb ${JSON.stringify(sub)} (list or show)`, kind);
  const lines = kind === 'prog' ? progLines : linkLines;
  if (w.done) {
    const all = describeAll(kind);
    if (p.json) return io.out(json(all, p.pretty));
    if (kind === 'prog' && all.length > 0)
      return io.out(
        table(
          ['ID', 'TYPE', 'NAME', 'TAG', 'MAPS', 'BTF', 'RUN_NS', 'RUNS'],
          (all as ProgDescription[]).map((d) => [
            String(d.id),
            d.type,
            d.name || '-',
            d.tag,
            d.map_ids?.join(',') ?? '-',
            d.btf_id ? String(d.btf_id) : '-',
            d.run_time_ns === undefined ? '-' : String(d.run_time_ns),
            d.run_cnt === undefined ? '-' : String(d.run_cnt),
          ]),
        ),
      );
    return io.out(all.map((d) => lines(d as never)).join('\n'));
  }
  const d = describeOne(kind, w);
  if (p.json) return io.out(json(d, p.pretty));
  io.out(lines(d as never));
}

/** The programs whose map ids include `mapId` (to find the BTF of an object that uses a map). */
export function programsUsing(mapId: number): ProgDescription[] {
  return (describeAll('prog') as ProgDescription[]).filter((d) => d.map_ids?.includes(mapId));
}
