/**
 * `bpfmap prog list|show` and `bpfmap link list|show`: what bpftool's
 * `prog show` and `link show` print, from BPF_OBJ_GET_INFO_BY_FD. Programs:
 * id, type, name, tag, the maps they use, their BTF id, and run time/count
 * when statistics are on (sysctl kernel.bpf_stats_enabled=1). Links: id,
 * type, program id, and the tracepoint name of raw tracepoint links.
 * `bpfmap prog load OBJ PINDIR [pinmaps DIR] [autoattach]`: bpftool's
 * `prog loadall`, loading a clang-compiled object and pinning what must
 * outlive the command.
 */
import { existsSync, mkdirSync, rmSync, statfsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  type KernelLinkInfo,
  type Link,
  type ProgramInfo,
  ProgType,
  linkInfo,
  listLinks,
  listPrograms,
  loadObject,
  programInfo,
  linkTypeName,
} from '../index.js';
import { type Parsed, UsageError, type Words, parseCount } from './args.js';
import { CliError } from './maps.js';
import type { Io } from './verbs.js';
import { json, table } from './output.js';

/** `socket_filter`, `raw_tracepoint`, … as bpftool spells program types. */
export function progTypeName(type: number): string {
  const n = ProgType[type] as string | undefined;
  if (n) return n.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  return type === 32 ? 'netfilter' : `type_${type}`;
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

function describeProg(i: ProgramInfo): ProgDescription {
  const d: ProgDescription = { id: i.id, type: progTypeName(i.type), name: i.name, tag: i.tag };
  if (i.mapIds.length) d.map_ids = i.mapIds;
  if (i.btfId) d.btf_id = i.btfId;
  if (i.runTimeNs || i.runCount) {
    d.run_time_ns = i.runTimeNs;
    d.run_cnt = i.runCount;
  }
  return d;
}

export interface LinkDescription {
  id: number;
  type: string;
  prog_id: number;
  tp_name?: string;
}

function describeLink(i: KernelLinkInfo): LinkDescription {
  const d: LinkDescription = { id: i.id, type: linkTypeName(i.type), prog_id: i.programId };
  if (i.tracepointName) d.tp_name = i.tracepointName;
  return d;
}

type Kind = 'prog' | 'link';

function describeAll(kind: Kind): (ProgDescription | LinkDescription)[] {
  return kind === 'prog' ? listPrograms().map(describeProg) : listLinks().map(describeLink);
}

/** `id N` or `pinned PATH`: one object. */
function describeOne(kind: Kind, w: Words): ProgDescription | LinkDescription {
  const how = w.next(`${kind} reference (id N or pinned PATH)`);
  let ref: { id: number } | { pinned: string };
  if (how === 'id') ref = { id: parseCount(w.next(`${kind} id`), `${kind} id`, w.verb) };
  else if (how === 'pinned') ref = { pinned: w.next('pinned path') };
  else throw new UsageError(`${w.verb}: expected id N or pinned PATH, got ${JSON.stringify(how)}`, w.verb);
  w.end();
  return kind === 'prog' ? describeProg(programInfo(ref)) : describeLink(linkInfo(ref));
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

/** What `prog load` pinned: one entry per program (its link instead with autoattach) and per map. */
interface Pinned {
  kind: 'prog' | 'link' | 'map';
  name: string;
  id: number;
  prog_id?: number;
  path: string;
}

/** statfs f_type of a bpffs mount (BPF_FS_MAGIC in linux/magic.h). */
const BPF_FS_MAGIC = 0xcafe4a11;

/**
 * Refuses a pin directory that is not on a bpffs before anything is loaded: the nearest existing
 * ancestor of `d` must be a bpffs. (Pins elsewhere fail with EPERM only after the programs loaded,
 * and a recursive mkdir under /proc or /sys never returns.)
 */
function checkOnBpffs(d: string, what: string) {
  let at = resolve(d);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  let type: number | bigint | undefined;
  try {
    type = statfsSync(at).type;
  } catch {
    type = undefined;
  }
  if (Number(type) !== BPF_FS_MAGIC)
    throw new CliError(
      `prog load: ${what} ${d} is not on a bpffs (${at} is not one): pin under a bpffs mount, e.g. /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf)`,
    );
}

/** mkdir -p of `d`, one level at a time, recording each directory made (outermost first). */
function makeDirs(d: string, made: string[]) {
  const missing: string[] = [];
  for (let at = resolve(d); !existsSync(at); at = dirname(at)) missing.unshift(at);
  for (const m of missing) {
    mkdirSync(m);
    made.push(m);
  }
}

/**
 * `prog load OBJ PINDIR [pinmaps DIR] [autoattach]` (also spelled `loadall`): loads every program of
 * the object and pins each at PINDIR/<program name>, as `bpftool prog loadall` does. With `pinmaps
 * DIR` the object's maps are pinned at DIR/<map name>, dots made `_` (bpffs refuses
 * dots: `.rodata` is pinned as `_rodata`). With `autoattach` each program whose section
 * says where it attaches is attached and its LINK is pinned at PINDIR/<program name> instead (so it
 * stays attached after the command exits; removing the pin detaches it); the others are pinned as
 * programs. On any failure what was pinned is removed, and a directory the command made too.
 */
function progLoad(w: Words, p: Parsed, io: Io) {
  const file = w.next('object file');
  const dir = w.next('pin directory');
  let mapsDir: string | undefined;
  let autoattach = false;
  while (!w.done) {
    const word = w.next('option');
    if (word === 'pinmaps') mapsDir = w.next('map pin directory');
    else if (word === 'autoattach') autoattach = true;
    else throw new UsageError(`${w.verb}: expected pinmaps DIR or autoattach, got ${JSON.stringify(word)}`, w.verb);
  }
  const made: string[] = []; // directories this command created, removed again on failure
  const pinned: Pinned[] = [];
  checkOnBpffs(dir, 'pin directory');
  if (mapsDir !== undefined) checkOnBpffs(mapsDir, 'map pin directory');
  const obj = loadObject(file);
  try {
    for (const d of mapsDir === undefined ? [dir] : [dir, mapsDir]) makeDirs(d, made);
    const links = new Map<number, Link>();
    if (autoattach) for (const l of obj.attach()) links.set(l.info().progId, l);
    for (const [name, prog] of Object.entries(obj.programs)) {
      const path = join(dir, name);
      const link = links.get(prog.id);
      if (link) link.pin(path);
      else prog.pin(path);
      pinned.push(link ? { kind: 'link', name, id: link.id, prog_id: prog.id, path } : { kind: 'prog', name, id: prog.id, path });
    }
    if (mapsDir !== undefined)
      for (const [name, map] of Object.entries(obj.maps)) {
        const path = join(mapsDir, name.replaceAll('.', '_')); // bpffs refuses dots in names (EPERM): .rodata → _rodata
        map.pin(path);
        pinned.push({ kind: 'map', name, id: map.id, path });
      }
  } catch (e) {
    for (const x of pinned) rmSync(x.path, { force: true });
    for (const d of made.reverse()) rmSync(d, { recursive: true, force: true });
    throw e;
  } finally {
    obj.close(); // pinned programs, maps and links outlive their fds
  }
  if (p.json) return io.out(json(pinned, p.pretty));
  io.out(
    pinned.map((x) => `${x.kind} ${x.name} id ${x.id}${x.prog_id ? ` (prog ${x.prog_id})` : ''} pinned at ${x.path}`).join('\n'),
  );
}

/** `prog list|show [id N | pinned PATH]`, `prog load OBJ PINDIR …`, `link list|show [id N | pinned PATH]`. */
export function objectVerb(kind: Kind, w: Words, p: Parsed, io: Io) {
  const sub = w.peek() === undefined ? 'show' : w.next('verb');
  if (kind === 'prog' && (sub === 'load' || sub === 'loadall')) return progLoad(w, p, io);
  if (sub !== 'list' && sub !== 'show')
    throw new UsageError(
      `${kind}: unknown verb ${JSON.stringify(sub)} (${kind === 'prog' ? 'list, show or load' : 'list or show'})`,
      kind,
    );
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
