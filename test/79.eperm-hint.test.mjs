// BPF_PROG_LOAD's EPERM as root: the hint must not say "needs CAP_BPF or root" to a caller who is
// root, but what this kernel shows instead (before the verifier, lockdown mode, LSMs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Asm, BpfError, ProgType, R0, loadProgram } from 'bpfmap';

const FENTRY = 24; // BPF_TRACE_FENTRY

test('a tracing program refused with EPERM as root gets a hint naming the real circumstances', () => {
  assert.equal(process.geteuid(), 0, 'this test runs as root');
  assert.match(readFileSync('/proc/self/status', 'utf8'), /^CapEff:\s*[0-9a-f]+$/m);
  for (const [type, eat] of [
    [ProgType.Tracing, FENTRY],
    [ProgType.Lsm, 27],
  ]) {
    let err;
    try {
      loadProgram({ type, expectedAttachType: eat, instructions: new Asm().mov64(R0, 0).exit() }).close();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof BpfError, `${ProgType[type]}: refused (no attach_btf_id is given)`);
    if (err.code === 'EINVAL') {
      // A kernel that lets root load tracing programs wants the attach target, and says so.
      assert.match(err.log ?? '', /btf_id/);
      continue;
    }
    assert.equal(err.code, 'EPERM');
    assert.doesNotMatch(err.message, /needs CAP_BPF/);
    assert.match(err.message, /not a missing capability: the caller is root/);
    assert.match(err.message, /before the verifier ran|kernel lockdown|active LSMs/);
    assert.match(err.message, new RegExp(`${ProgType[type]} programs attach through BTF`));
  }
});
