/**
 * Attaching a program to a USDT probe as libbpf's usdt.bpf.h expects: one
 * uprobe per probe location, each with BPF cookie = a spec id whose
 * `struct __bpf_usdt_spec` (argument locations, user cookie) sits in the
 * program's `__bpf_usdt_specs` map; semaphores counted by the kernel
 * (ref_ctr_offset). One `Link` holds them all and, on close, detaches every
 * uprobe and clears the spec entries it wrote.
 */
import { existsSync } from 'node:fs';
import type { BpfMap } from '../map/map.js';
import { MapType, ProgType } from '../sys/uapi.js';
import { type AttachableProgram, attachUprobeAt } from './attach.js';
import { Link } from './link.js';
import { encodeUsdtSpec, parseUsdtArgs, USDT_SPEC_SIZE } from './usdt-args.js';
import { readUsdtNotes, UsdtError, type UsdtNote } from './usdt-notes.js';

/** The maps usdt.bpf.h declares, from the program's object. */
export interface UsdtMaps {
  /** `__bpf_usdt_specs`: ARRAY, int spec id → struct __bpf_usdt_spec. */
  specs: BpfMap;
  /** `__bpf_usdt_ip_to_spec_id`: HASH, long ip → u32 spec id (read only when the kernel has no BPF cookies). */
  ipToSpecId?: BpfMap | undefined;
}

/** What `attachUsdt` takes. */
export interface UsdtOptions {
  /** Only this process (default: every process that maps the binary). */
  pid?: number;
  /** What `bpf_usdt_cookie(ctx)` returns in the program (default 0). */
  cookie?: number | bigint;
  /** The usdt.bpf.h maps, when the program did not come from an object that has them. */
  maps?: UsdtMaps;
}

const programMaps = new WeakMap<object, UsdtMaps>();

/** @internal The object records its usdt.bpf.h maps on each of its programs (object/load.ts). */
export function setUsdtMaps(prog: object, maps: UsdtMaps): void {
  programMaps.set(prog, maps);
}

/** Spec ids in use, per specs map (this process's attaches). */
const usedIds = new WeakMap<BpfMap, Set<number>>();

function checkMaps(maps: UsdtMaps, what: string): void {
  const s = maps.specs;
  if (s.closed) throw new UsdtError('', `${what}: the __bpf_usdt_specs map is closed`);
  if (s.type !== MapType.Array || s.keySize !== 4 || s.valueSize !== USDT_SPEC_SIZE)
    throw new UsdtError(
      '',
      `${what}: __bpf_usdt_specs must be an ARRAY of int → struct __bpf_usdt_spec (${USDT_SPEC_SIZE} bytes, usdt.bpf.h 1.1); it is type ${s.type}, key ${s.keySize}, value ${s.valueSize} bytes`,
    );
  const ip = maps.ipToSpecId;
  if (ip && (ip.type !== MapType.Hash || ip.keySize !== 8 || ip.valueSize !== 4))
    throw new UsdtError('', `${what}: __bpf_usdt_ip_to_spec_id must be a HASH of long → u32`);
}

function key32(id: number): Uint8Array {
  const k = new Uint8Array(4);
  new DataView(k.buffer).setUint32(0, id, true);
  return k;
}

function key64(v: bigint): Uint8Array {
  const k = new Uint8Array(8);
  new DataView(k.buffer).setBigUint64(0, v, true);
  return k;
}

/**
 * Attaches `p` to every location of USDT probe `provider:name` in the ELF
 * file `path`. The program's `__bpf_usdt_specs` map (from its object, or
 * `opts.maps`) gets one spec per distinct argument string.
 * @throws {UsdtError} for a file that is not a fitting ELF, a probe it lacks, or arguments usdt.bpf.h cannot express; the link errors from the attach (uprobes attached before a failure are detached).
 * @kernel 5.15 (BPF cookies on perf links)
 */
export function attachUsdt(p: AttachableProgram, path: string, provider: string, name: string, opts: UsdtOptions = {}): Link {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('attachUsdt options must be an object');
  if (p.type !== ProgType.Kprobe)
    throw new TypeError(
      `attachUsdt takes kprobe-type programs (SEC("usdt…")); program${p.name ? ` "${p.name}"` : ''} is type ${p.type}`,
    );
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0'))
    throw new TypeError(`USDT binary must be a non-empty path without NUL, got ${JSON.stringify(path)}`);
  for (const [what, v] of [
    ['provider', provider],
    ['probe name', name],
  ] as const)
    if (typeof v !== 'string' || !/^[A-Za-z0-9_.]{1,255}$/.test(v))
      throw new TypeError(`USDT ${what} must be a non-empty identifier, got ${JSON.stringify(v)}`);
  const probe = `USDT ${provider}:${name} in ${path}`;
  const pid = opts.pid ?? -1;
  if (!Number.isInteger(pid) || pid < -1 || pid === 0 || pid > 0x3fffffff)
    throw new RangeError(`pid must be a process id, got ${pid}`);
  if (pid > 0 && !existsSync(`/proc/${pid}`)) throw new RangeError(`no process ${pid}`);
  const cookie = opts.cookie ?? 0;
  if ((typeof cookie !== 'number' || !Number.isSafeInteger(cookie)) && typeof cookie !== 'bigint')
    throw new TypeError(`cookie must be an integer, got ${String(cookie)}`);
  const maps = opts.maps ?? programMaps.get(p);
  if (!maps)
    throw new UsdtError(
      path,
      `${probe}: program${p.name ? ` "${p.name}"` : ''} has no __bpf_usdt_specs map: load it from an object built with #include <bpf/usdt.bpf.h> (its programs know their maps), or pass { maps: { specs, ipToSpecId } }`,
    );
  checkMaps(maps, probe);
  if (!existsSync(path)) throw new UsdtError(path, `${probe}: ${path} does not exist`);

  const file = readUsdtNotes(path);
  const notes = file.notes.filter((n) => n.provider === provider && n.name === name);
  if (notes.length === 0) {
    const have = [...new Set(file.notes.map((n) => `${n.provider}:${n.name}`))];
    throw new UsdtError(
      path,
      have.length === 0
        ? `${probe}: ${path} has no USDT probes (no .note.stapsdt notes)`
        : `${probe}: no such probe; ${path} has ${have.slice(0, 20).join(', ')}${have.length > 20 ? ', …' : ''}`,
    );
  }
  // Parse every location first: nothing is attached for a probe that cannot be read.
  const specs = new Map<string, Uint8Array>();
  for (const n of notes) {
    if (specs.has(n.args)) continue;
    try {
      specs.set(n.args, encodeUsdtSpec(parseUsdtArgs(n.args, file.machine), BigInt(cookie)));
    } catch (e) {
      throw new UsdtError(path, `${probe} at 0x${n.pc.toString(16)}: ${(e as Error).message}`);
    }
  }

  const used = usedIds.get(maps.specs) ?? new Set<number>();
  usedIds.set(maps.specs, used);
  const ids = new Map<string, number>();
  const ipKeys: Uint8Array[] = [];
  const links: Link[] = [];
  const undo = () => {
    for (const l of links.splice(0)) {
      try {
        l.close();
      } catch {}
    }
    const zero = new Uint8Array(USDT_SPEC_SIZE);
    for (const id of ids.values()) {
      if (!maps.specs.closed) {
        try {
          maps.specs.update(key32(id), zero);
        } catch {}
      }
      used.delete(id);
    }
    ids.clear();
    if (maps.ipToSpecId && !maps.ipToSpecId.closed)
      for (const k of ipKeys.splice(0)) {
        try {
          maps.ipToSpecId.delete(k);
        } catch {}
      }
  };
  let step = 'writing the argument specs';
  try {
    for (const [args, bytes] of specs) {
      let id = 0;
      while (id < maps.specs.maxEntries && used.has(id)) id++;
      if (id >= maps.specs.maxEntries)
        throw new UsdtError(
          path,
          `${probe}: __bpf_usdt_specs is full (${maps.specs.maxEntries} specs; define BPF_USDT_MAX_SPEC_CNT larger before including usdt.bpf.h)`,
        );
      used.add(id);
      ids.set(args, id);
      maps.specs.update(key32(id), bytes);
    }
    // The ip map serves kernels without BPF cookies; an executable's addresses are absolute.
    if (maps.ipToSpecId && file.elfType === 2)
      for (const n of notes) {
        const k = key64(n.pc);
        maps.ipToSpecId.update(k, key32(ids.get(n.args)!));
        ipKeys.push(k);
      }
    notes.forEach((n: UsdtNote, i) => {
      step = `attaching location ${i + 1} of ${notes.length} (0x${n.pc.toString(16)})`;
      links.push(
        attachUprobeAt(p, path, n.pcOffset, {
          pid,
          refCtrOffset: n.semaOffset,
          cookie: BigInt(ids.get(n.args)!),
          what: `${probe} at file offset 0x${n.pcOffset.toString(16)}`,
        }),
      );
    });
  } catch (e) {
    const done = links.length;
    undo();
    if (e instanceof UsdtError) throw e;
    const err = e as Error;
    err.message = `${probe}: failed ${step} (${done} of ${notes.length} attached, now detached): ${err.message}`;
    throw err;
  }
  const group = Link.group(links, undo);
  return group;
}
