/** Walking the kernel's object ids (maps, programs, links) and opening an object by id. */
import { BpfError, errnoNumber } from '../errors.js';
import { getFdById, getNextId } from './bpf.js';
import { Cmd } from './uapi.js';

const ENOENT = errnoNumber('ENOENT');
const EPERM = errnoNumber('EPERM');

/** The three kinds of kernel object the id commands walk. */
export type IdKind = 'map' | 'prog' | 'link';

const CMDS = {
  map: { next: Cmd.BPF_MAP_GET_NEXT_ID, byId: Cmd.BPF_MAP_GET_FD_BY_ID, what: 'map' },
  prog: { next: Cmd.BPF_PROG_GET_NEXT_ID, byId: Cmd.BPF_PROG_GET_FD_BY_ID, what: 'program' },
  link: { next: Cmd.BPF_LINK_GET_NEXT_ID, byId: Cmd.BPF_LINK_GET_FD_BY_ID, what: 'link' },
} as const;

function cmdName(kind: IdKind, op: 'NEXT_ID' | 'FD_BY_ID'): string {
  return `BPF_${kind.toUpperCase()}_GET_${op}`;
}

/**
 * The ids of every object of `kind` on the system, in order (BPF_*_GET_NEXT_ID; needs CAP_SYS_ADMIN).
 * @throws {BpfError} EPERM without privileges.
 */
export function listIds(kind: IdKind): number[] {
  const ids: number[] = [];
  for (let id = 0; ; ) {
    const { ret, nextId } = getNextId(CMDS[kind].next, id);
    if (ret === -ENOENT) return ids;
    if (ret < 0)
      throw new BpfError(cmdName(kind, 'NEXT_ID'), -ret, {
        hint: -ret === EPERM ? `listing ${CMDS[kind].what}s needs CAP_SYS_ADMIN` : undefined,
      });
    id = nextId;
    ids.push(id);
  }
}

/**
 * Opens the object of `kind` with id `id` (BPF_*_GET_FD_BY_ID): a new fd the caller owns,
 * or undefined when `missingOk` and no such object exists (it went away while listing).
 * @throws {BpfError} ENOENT when there is none (and not `missingOk`), EPERM without privileges.
 */
export function fdById(kind: IdKind, id: number, missingOk = false, openFlags = 0): number | undefined {
  const fd = getFdById(CMDS[kind].byId, id, openFlags);
  if (fd >= 0) return fd;
  if (fd === -ENOENT && missingOk) return undefined;
  throw new BpfError(cmdName(kind, 'FD_BY_ID'), -fd, {
    hint: -fd === ENOENT ? `no ${CMDS[kind].what} has id ${id}` : `${CMDS[kind].what} id ${id}`,
  });
}
