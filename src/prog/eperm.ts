/**
 * Why BPF_PROG_LOAD said EPERM. Without privilege the answer is the
 * capabilities; with them (root, or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN
 * in /proc/self/status CapEff) the kernel refused for another reason, and
 * the hint says what this machine shows: its lockdown mode, its LSMs, and
 * that the refusal came before the verifier (no verifier log).
 */
import { readFileSync } from 'node:fs';
import { ProgType } from '../sys/uapi.js';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** The effective capability mask of this process (0n when unreadable). */
export function effectiveCaps(status = '/proc/self/status'): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(readFileSync(status, 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** BTF-attached program types: they name a kernel function or hook through attach_btf_id. */
const BTF_ATTACHED = new Set<number>([ProgType.Tracing, ProgType.Lsm, ProgType.Ext, ProgType.StructOps]);

export function loadEpermHint(progType: number, logWritten: boolean): string {
  const caps = effectiveCaps();
  const has = (c: bigint) => (caps >> c) & 1n;
  const privileged = has(CAP_BPF) && has(CAP_PERFMON) && has(CAP_SYS_ADMIN);
  if (!privileged) return 'loading programs needs CAP_BPF (and CAP_PERFMON/CAP_NET_ADMIN for some types) or root';
  const who = process.geteuid?.() === 0 ? 'the caller is root' : 'the caller has CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN';
  const parts = [`not a missing capability: ${who}`];
  if (!logWritten) parts.push('the kernel refused before the verifier ran (no verifier log)');
  const lockdown = read('/sys/kernel/security/lockdown');
  const mode = lockdown ? /\[(\w+)\]/.exec(lockdown)?.[1] : undefined;
  if (mode && mode !== 'none')
    parts.push(
      `kernel lockdown is "${mode}"${mode === 'confidentiality' ? ', which refuses programs that read kernel memory' : ''}`,
    );
  else if (lockdown === undefined)
    parts.push('lockdown unknown (mount -t securityfs none /sys/kernel/security to read /sys/kernel/security/lockdown)');
  const lsm = read('/sys/kernel/security/lsm');
  if (lsm) parts.push(`active LSMs: ${lsm} (one of them, e.g. a BPF LSM program or a sandbox policy, may deny bpf())`);
  if (BTF_ATTACHED.has(progType))
    parts.push(
      `${ProgType[progType]} programs attach through BTF (attach_btf_id); this kernel refuses them even as root, so check its configuration and policy`,
    );
  return parts.join('; ');
}
