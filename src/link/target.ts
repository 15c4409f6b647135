/**
 * The BTF id a tracing program names at load: `attachTo` looked up in the
 * running kernel's BTF by the kind of program (a FUNC for fentry/fexit/
 * fmod_ret, `btf_trace_<name>` for tp_btf, `bpf_lsm_<hook>` for lsm,
 * `bpf_iter_<target>` for iterators).
 */
import { AttachType, ProgType } from '../sys/uapi.js';
import { kernelFuncId, kernelFuncsLike, kernelTypedefId } from './btf-id.js';

/**
 * The attach BTF id for a program of `type`/`expectedAttachType` naming
 * `attachTo` (or `attachBtfId` as given).
 * @throws {TypeError} when the kernel's BTF has no such target, with the names that start alike.
 */
export function resolveAttachBtfId(
  type: number,
  expectedAttachType: number,
  attachTo: string | undefined,
  attachBtfId: number | undefined,
): number {
  if (attachBtfId !== undefined) {
    if (!Number.isInteger(attachBtfId) || attachBtfId < 1 || attachBtfId > 0xffff_ffff)
      throw new RangeError(`attachBtfId must be a positive BTF type id, got ${attachBtfId}`);
    return attachBtfId;
  }
  if (typeof attachTo !== 'string' || attachTo.length === 0 || /[\s\0/]/.test(attachTo))
    throw new TypeError(
      `attachTo must name a kernel function, tracepoint, LSM hook or iterator, got ${JSON.stringify(attachTo)}`,
    );
  if (type !== ProgType.Tracing && type !== ProgType.Lsm)
    throw new TypeError(`attachTo is for Tracing and Lsm programs (${ProgType[type] ?? type} programs attach elsewhere)`);
  let id: number | undefined;
  let lookedFor: string;
  let like: string;
  if (type === ProgType.Lsm) {
    lookedFor = `FUNC bpf_lsm_${attachTo}`;
    id = kernelFuncId(`bpf_lsm_${attachTo}`);
    like = `bpf_lsm_${attachTo.slice(0, 4)}`;
  } else if (expectedAttachType === AttachType.TraceRawTp) {
    lookedFor = `TYPEDEF btf_trace_${attachTo}`;
    id = kernelTypedefId(`btf_trace_${attachTo}`);
    like = '';
  } else if (expectedAttachType === AttachType.TraceIter) {
    lookedFor = `FUNC bpf_iter_${attachTo}`;
    id = kernelFuncId(`bpf_iter_${attachTo}`);
    like = 'bpf_iter_';
  } else {
    lookedFor = `FUNC ${attachTo}`;
    id = kernelFuncId(attachTo);
    like = attachTo.slice(0, Math.max(3, attachTo.length - 3));
  }
  if (id === undefined) {
    const near = like ? kernelFuncsLike(like, 8) : [];
    throw new TypeError(
      `attachTo "${attachTo}": the kernel's BTF (/sys/kernel/btf/vmlinux) has no ${lookedFor}${near.length ? `; names like it: ${near.join(', ')}` : ''}`,
    );
  }
  return id;
}
