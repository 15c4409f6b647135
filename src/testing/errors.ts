/**
 * The `BpfError`s the fakes throw: the command, errno and (for batches) count the real map's
 * syscall would give, with a hint in the words `BpfMap`'s hint table uses.
 */
import { BpfError, type ErrnoCode, MAP_TYPE_NAMES, errnoNumber } from '../index.js';

/** What a hint needs to know about the map. */
export interface HintShape {
  readonly type: number;
  readonly maxEntries: number;
  readonly frozen: boolean;
  readonly arrayKeyed: boolean;
}

function typeName(type: number): string {
  return MAP_TYPE_NAMES[type] ?? `map type ${type}`;
}

function hintFor(command: string, code: ErrnoCode, m: HintShape, flags: number): string | undefined {
  const name = typeName(m.type);
  switch (code) {
    case 'EPERM':
      return m.frozen ? 'the map is frozen: syscall writes are refused' : 'the map fd does not allow this access';
    case 'E2BIG':
      if (command.startsWith('BPF_MAP_UPDATE'))
        return m.arrayKeyed && command === 'BPF_MAP_UPDATE_ELEM'
          ? `index out of range: max_entries=${m.maxEntries}`
          : `map full: max_entries=${m.maxEntries}`;
      return undefined;
    case 'EEXIST':
      return m.arrayKeyed ? 'BPF_NOEXIST on an array: every index always exists' : 'the key exists and BPF_NOEXIST was given';
    case 'ENOENT':
      if (command === 'BPF_MAP_DELETE_BATCH') return 'a key in the batch is not in the map';
      return 'the key does not exist and BPF_EXIST was given';
    case 'EINVAL':
      if (flags & 4)
        return 'BPF_F_LOCK needs a value type with a struct bpf_spin_lock described by BTF, and is not allowed on per-CPU maps';
      if (command === 'BPF_MAP_DELETE_ELEM' && m.arrayKeyed) return 'array elements cannot be deleted; write zeros instead';
      return `flags or key/value not accepted by ${name}`;
    case 'ENOTSUPP':
    case 'EOPNOTSUPP':
      return `${name} does not support this operation from userspace`;
    case 'ENOSPC':
      return command === 'BPF_MAP_UPDATE_ELEM' ? `map full: max_entries=${m.maxEntries}` : undefined;
    default:
      return undefined;
  }
}

/** The error the real map gives for `command` failing with `code`. */
export function fakeError(command: string, code: ErrnoCode, m: HintShape, flags = 0, count?: number): BpfError {
  return new BpfError(command, errnoNumber(code), { hint: hintFor(command, code, m, flags), count });
}

/** The error every operation on a closed map throws. */
export function closedError(command: string, what = 'map'): BpfError {
  return new BpfError(command, errnoNumber('EBADF'), {
    hint: `the ${what} is closed; its fd may already belong to another object`,
  });
}

/** An element error re-thrown by a batch that went element by element, with how many were done before it. */
export function batchError(command: string, err: BpfError, count: number): BpfError {
  return new BpfError(command, err.errno, { count, cause: err, hint: err.message });
}
