/**
 * Why a hook is unavailable, in words: the kernel options a missing hook
 * needs (`KernelConfigError`), and why BPF trampolines (fentry, fexit,
 * fmod_ret, lsm, freplace) are refused with EPERM on a kernel that forbids
 * ftrace's kernel text patching.
 */
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { BpfError } from '../errors.js';

/**
 * The running kernel was built without what a hook needs: `option` names the
 * kernel configuration option (`CONFIG_KPROBES`, …).
 */
export class KernelConfigError extends BpfError {
  /** The hook asked for (`'kprobe'`, `'kretprobe'`, `'ksyscall'`, …). */
  readonly hook: string;
  /** The kernel option it needs, e.g. `CONFIG_KPROBES`. */
  readonly option: string;
  constructor(command: string, errno: number, hook: string, option: string, detail: string) {
    super(command, errno, { hint: `${hook} is not available: this kernel is built without ${option}; ${detail}` });
    this.name = 'KernelConfigError';
    this.hook = hook;
    this.option = option;
  }
}

/** `CONFIG_NAME` from /proc/config.gz as 'y'/'m'/'n', or undefined when the config is not readable. */
export function kernelConfig(name: string): string | undefined {
  try {
    const text = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
    const m = new RegExp(`^${name}=(\\S+)$`, 'm').exec(text);
    if (m) return m[1];
    return new RegExp(`^# ${name} is not set$`, 'm').test(text) ? 'n' : undefined;
  } catch {
    return undefined;
  }
}

/** Attach types that run through a BPF trampoline (fentry 24, fexit 25, fmod_ret 26, lsm 27) and freplace (type Ext). */
export const TRAMPOLINE_ATTACH = new Set([24, 25, 26, 27]);

/** Whether tracefs refuses ftrace function hooks (set_ftrace_filter) with EPERM even for root. */
function ftraceRefused(): boolean | undefined {
  for (const dir of ['/sys/kernel/tracing', '/sys/kernel/debug/tracing']) {
    const f = `${dir}/set_ftrace_filter`;
    if (!existsSync(f)) continue;
    try {
      closeSync(openSync(f, 'r'));
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return undefined;
}

/**
 * The part of a BPF_PROG_LOAD EPERM hint that is about trampolines: added
 * when a tracing/lsm/ext program with a trampoline attach type is refused.
 */
export function trampolineEpermHint(): string {
  const refused = ftraceRefused();
  const parts = [
    'fentry/fexit/fmod_ret/lsm/freplace programs run through a BPF trampoline, which patches kernel text through ftrace (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS)',
  ];
  if (refused)
    parts.push(
      'this kernel refuses ftrace text patching altogether: tracefs set_ftrace_filter and the function tracer give EPERM to root too, so the load is refused before the verifier runs (no log, whatever the BTF id); tp_btf, iter and raw_tp programs, which need no trampoline, still load',
    );
  else if (kernelConfig('CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS') === 'n')
    parts.push('this kernel is built without CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS');
  else parts.push('a kernel policy (a BPF LSM program, a vendor patch) refused it: the verifier did not run');
  return parts.join('; ');
}
