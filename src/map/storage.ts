/** Keys of the local-storage maps: task storage takes a pidfd (the others take socket, file or cgroup fds). */
import { BpfError, errnoName } from '../errors.js';
import { pidfdOpen } from '../sys/bpf.js';
import { checkU32 } from '../validate.js';

/** pidfd_open(2) for `pid`: the key of a task storage map. The caller closes it (`fs.closeSync`). @kernel 5.3 (pidfd_open(2)) */
export function openPidfd(pid: number): number {
  const fd = pidfdOpen(checkU32('pid', pid));
  if (fd < 0) throw new BpfError('pidfd_open', -fd, { hint: errnoName(-fd) === 'ESRCH' ? `no process ${pid}` : undefined });
  return fd;
}
