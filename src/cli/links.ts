/**
 * `bpfmap link list|show|pin|detach`, as bpftool spells them: links by id or
 * pin path, their type, program and the fields of their type (tracepoint,
 * interface, cgroup, attach type, iterator target). Uses only the package's
 * public surface (`Link`, `listLinkIds`).
 */
import { AttachType, Link, type LinkInfo, listLinkIds } from '../index.js';
import { type Parsed, UsageError, type Words, parseCount } from './args.js';
import { json } from './output.js';
import type { Io } from './verbs.js';

/** What `link show --json` prints: bpftool's field names. */
export interface LinkJson {
  id: number;
  type: string;
  prog_id: number;
  tp_name?: string;
  attach_type?: string;
  ifindex?: number;
  cgroup_id?: number;
  netns_ino?: number;
  map_id?: number;
  target_name?: string;
  perf_event_type?: string;
  file?: string;
  func?: string;
  offset?: number;
}

function attachTypeName(t: number): string {
  const extra: Record<number, string> = { 46: 'tcx_ingress', 47: 'tcx_egress', 48: 'trace_uprobe_multi' };
  const n = AttachType[t] as string | undefined;
  return n ? n.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase() : (extra[t] ?? `type_${t}`);
}

/** A link's info in bpftool's JSON shape. */
export function linkJson(i: LinkInfo): LinkJson {
  const d: LinkJson = { id: i.id, type: i.type, prog_id: i.progId };
  if (i.tpName !== undefined) d.tp_name = i.tpName;
  if (i.attachType !== undefined) d.attach_type = attachTypeName(i.attachType);
  if (i.ifindex !== undefined) d.ifindex = i.ifindex;
  if (i.cgroupId !== undefined) d.cgroup_id = Number(i.cgroupId);
  if (i.netnsIno !== undefined) d.netns_ino = i.netnsIno;
  if (i.mapId !== undefined) d.map_id = i.mapId;
  if (i.iterTarget !== undefined) d.target_name = i.iterTarget;
  if (i.perfEventType !== undefined) d.perf_event_type = i.perfEventType;
  if (i.fileName !== undefined) d.file = i.fileName;
  if (i.funcName !== undefined) d.func = i.funcName;
  if (i.offset !== undefined && (i.fileName !== undefined || i.funcName !== undefined)) d.offset = i.offset;
  return d;
}

function lines(d: LinkJson): string {
  const extra = Object.entries(d)
    .filter(([k]) => k !== 'id' && k !== 'type' && k !== 'prog_id')
    .map(([k, v]) => `${k} ${v}`);
  return `${d.id}: ${d.type}  prog ${d.prog_id}${extra.length ? `\n\t${extra.join('  ')}` : ''}`;
}

/** `id N` or `pinned PATH`: opens that link. */
function openLink(w: Words): Link {
  const how = w.next('link reference (id N or pinned PATH)');
  if (how === 'id') return Link.fromId(parseCount(w.next('link id'), 'link id', w.verb));
  if (how === 'pinned') return Link.openPinned(w.next('pinned path'));
  throw new UsageError(`${w.verb}: expected id N or pinned PATH, got ${JSON.stringify(how)}`, w.verb);
}

function withLink<T>(link: Link, fn: (l: Link) => T): T {
  try {
    return fn(link);
  } finally {
    link.close();
  }
}

/** `link list`, `link show [id N | pinned PATH]`, `link pin (id N | pinned PATH) FILE`, `link detach (id N | pinned PATH)`. */
export function linkVerb(w: Words, p: Parsed, io: Io): void {
  const sub = w.peek() === undefined ? 'show' : w.next('verb');
  switch (sub) {
    case 'list':
    case 'show': {
      if (w.done) {
        const all: LinkJson[] = [];
        for (const id of listLinkIds()) {
          let link: Link;
          try {
            link = Link.fromId(id);
          } catch {
            continue; // gone meanwhile
          }
          all.push(withLink(link, (l) => linkJson(l.info())));
        }
        io.out(p.json ? json(all, p.pretty) : all.map(lines).join('\n'));
        return;
      }
      const link = openLink(w);
      w.end();
      const d = withLink(link, (l) => linkJson(l.info()));
      io.out(p.json ? json(d, p.pretty) : lines(d));
      return;
    }
    case 'pin': {
      const link = openLink(w);
      const path = w.next('pin path (FILE on a bpffs)');
      w.end();
      withLink(link, (l) => l.pin(path));
      io.out(p.json ? json({ pinned: path }, p.pretty) : `pinned at ${path}`);
      return;
    }
    case 'detach': {
      const link = openLink(w);
      w.end();
      const id = link.id;
      link.detach(); // closes it as well
      io.out(p.json ? json({ detached: id }, p.pretty) : `detached link ${id}`);
      return;
    }
    default:
      throw new UsageError(`link: unknown verb ${JSON.stringify(sub)} (list, show, pin or detach)`, 'link');
  }
}
