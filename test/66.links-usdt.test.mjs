// USDT probes (sys/sdt.h STAP_PROBE) in a C program built with gcc at -O2 and -O0 (register,
// constant and memory operands), handled by clang-built BPF_USDT programs (libbpf's usdt.bpf.h):
// the handlers see exactly the values the process passed; the semaphore is counted by the kernel
// while attached; a pid filter, close() and the spec maps' cleanup; clear errors for a missing
// probe, a bad path, a non-ELF file and a program without usdt.bpf.h's maps.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadObject, ProgType, readUsdtNotes, UsdtError } from 'bpfmap';
import { counter } from './helpers/links.mjs';

const fixtures = fileURLToPath(new URL('./fixtures/link/', import.meta.url));
const multiarch = `/usr/include/${arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
const targetArch = arch() === 'arm64' ? 'arm64' : 'x86';

/** The target built at `opt` and the BPF object naming it in its usdt/… section; removed when `t` ends. */
function build(t, opt = '-O2', { lib = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-usdt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'target');
  const so = join(dir, 'libsema.so');
  if (lib) {
    // the semaphore-guarded probe and its semaphore in a shared library
    execFileSync('gcc', [opt, '-shared', '-fPIC', '-o', so, join(fixtures, 'usdt-sema.c')]);
    execFileSync('gcc', [opt, '-o', bin, join(fixtures, 'usdt-target.c'), `-L${dir}`, '-lsema', `-Wl,-rpath,${dir}`]);
  } else execFileSync('gcc', [opt, '-o', bin, join(fixtures, 'usdt-target.c'), join(fixtures, 'usdt-sema.c')]);
  const obj = join(dir, 'usdt.o');
  execFileSync('clang', [
    '-g',
    '-O2',
    '-target',
    'bpf',
    `-D__TARGET_ARCH_${targetArch}`,
    `-DBIN="${bin}"`,
    `-I${multiarch}`,
    '-c',
    join(fixtures, 'usdt.bpf.c'),
    '-o',
    obj,
  ]);
  const o = loadObject(obj);
  t.after(() => o.close());
  const out = (i) => BigInt.asIntN(64, o.maps.out.lookupInt(i));
  return { dir, bin, so, o, out };
}

/** Runs the target; `fire(n)` makes it fire every probe n times and resolves with the semaphore it printed last. */
async function run(t, bin) {
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.kill());
  const lines = [];
  let waiting;
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
    }
    waiting?.();
  });
  const until = (n) =>
    new Promise((resolve) => {
      const check = () => {
        if (lines.length >= n) {
          waiting = undefined;
          resolve();
        }
      };
      waiting = check;
      check();
    });
  await until(1);
  const ready = Number(/^ready sema=(\d+)$/.exec(lines[0])[1]);
  return {
    pid: child.pid,
    ready,
    async fire(n = 1) {
      const want = lines.length + n;
      child.stdin.write('x\n'.repeat(n));
      await until(want);
      return Number(/^sema=(\d+)$/.exec(lines[want - 1])[1]);
    },
  };
}

for (const opt of ['-O2', '-O0']) {
  test(`BPF_USDT handlers read back exactly the arguments the process passed (${opt})`, async (t) => {
    const { bin, o, out } = build(t, opt);
    const kinds = readUsdtNotes(bin).notes.find((n) => n.name === 'args').args;
    // -O0 puts the locals in memory (N(%rbp)); -O2 in registers and constants
    assert.match(kinds, opt === '-O0' ? /-?\d@-\d+\(%rbp\)/ : /-?\d@%r/);
    const p = await run(t, bin);
    const l1 = o.programs.on_args.attachUsdt(bin, 'bpfmap', 'args', { cookie: 0xfeedn });
    const l2 = o.programs.on_consts.attach({ binary: bin, provider: 'bpfmap', probe: 'consts' });
    t.after(() => {
      l1.close();
      l2.close();
    });
    await p.fire(3);
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => out(i)),
      [3n, -3n, 65535n, -100000n, 0x123456789n + 3n, -5000000000n, -77n, 42n],
    );
    assert.equal(out(8), 8n, 'bpf_usdt_arg_cnt');
    assert.equal(out(9), 0xfeedn, 'bpf_usdt_cookie');
    assert.equal(out(10), 3n);
    assert.deepEqual([out(11), out(12)], [7n, -9n]);
    const info = l1.info();
    assert.equal(info.type, 'perf_event');
    assert.equal(info.perfEventType, 'uprobe');
    assert.equal(info.count, 1);
    assert.ok(l1.fd >= 0 && l1.id > 0);
  });
}

test('a probe at two places: obj.attach() takes usdt/PATH:PROVIDER:NAME, one Link holds both, close() stops both and clears the specs', async (t) => {
  const { bin, o, out } = build(t);
  const p = await run(t, bin);
  const links = o.attach();
  assert.equal(links.length, 1, 'only the section naming its probe attaches by itself');
  const [link] = links;
  assert.equal(link.info().count, 2);
  assert.throws(() => link.pin('/sys/fs/bpf/bpfmap_usdt_never'), /one per probe location/);
  await p.fire(2);
  assert.equal(out(13), 4n, 'both locations, twice each');
  assert.equal(out(14), 1n + 10n + 2n + 20n, 'the argument at each location');
  const specs = o.maps.__bpf_usdt_specs;
  const nonZero = () => [...specs.keys()].filter((k) => specs.lookup(k).some((b) => b !== 0)).length;
  assert.ok(nonZero() >= 1);
  link.close();
  assert.equal(nonZero(), 0, 'no spec is left after close');
  await p.fire(2);
  assert.equal(out(13), 4n, 'detached');
});

test('the semaphore is 0 unattached, counted by the kernel while attached, and a pid filter counts one process', async (t) => {
  const { bin, o, out } = build(t);
  const a = await run(t, bin);
  const b = await run(t, bin);
  assert.equal(a.ready, 0);
  assert.equal(await a.fire(1), 0, 'no one attached: the semaphore is 0');
  const link = o.programs.on_sema.attachUsdt(bin, 'bpfmap', 'sema', { pid: a.pid });
  assert.ok((await a.fire(2)) > 0, 'attached: the kernel raised the semaphore');
  assert.equal(await b.fire(2), 0, 'the other process is not probed, its semaphore stays 0');
  assert.equal(out(15), 2n, 'only the pid counted');
  link.close();
  assert.equal(await a.fire(1), 0, 'detached: the semaphore is back to 0');
  assert.equal(out(15), 2n);
});

test('a probe and its semaphore in a shared library', async (t) => {
  const { bin, so, o, out } = build(t, '-O2', { lib: true });
  assert.equal(readUsdtNotes(so).elfType, 3);
  assert.deepEqual(
    readUsdtNotes(bin)
      .notes.map((n) => n.name)
      .filter((n) => n === 'sema'),
    [],
    'the probe is in the library only',
  );
  const a = await run(t, bin);
  assert.equal(await a.fire(1), 0);
  const link = o.programs.on_sema.attachUsdt(so, 'bpfmap', 'sema');
  assert.ok(
    (await a.fire(3)) > 0,
    'the kernel raised the semaphore in the library, in a process that mapped it before the attach',
  );
  const b = await run(t, bin);
  assert.ok((await b.fire(1)) > 0, 'and in one that maps it after');
  link.close();
  assert.equal(await a.fire(1), 0);
  assert.equal(out(15), 4n);
});

test('clear errors: no such probe, a bad path, a non-ELF file, a program without usdt.bpf.h maps, an inexpressible argument', (t) => {
  const { dir, bin, o } = build(t);
  const prog = o.programs.on_args;
  assert.throws(
    () => prog.attachUsdt(bin, 'bpfmap', 'nope'),
    (e) => e instanceof UsdtError && /no such probe/.test(e.message) && /bpfmap:args/.test(e.message),
  );
  assert.throws(() => prog.attachUsdt('/bin/true', 'bpfmap', 'args'), /has no USDT probes/);
  assert.throws(() => prog.attachUsdt(join(dir, 'missing'), 'bpfmap', 'args'), /does not exist/);
  const junk = join(dir, 'junk');
  writeFileSync(junk, 'not an elf file at all, just text that is long enough to have a header......');
  assert.throws(() => prog.attachUsdt(junk, 'bpfmap', 'args'), /not an ELF file/);
  assert.throws(() => prog.attachUsdt(dir, 'bpfmap', 'args'), /is not a regular file/);
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  assert.throws(
    () => prog.attachUsdt(fifo, 'bpfmap', 'args'),
    /is not a regular file/,
    'a FIFO is refused, not read (which would block)',
  );
  const bare = counter(t, ProgType.Kprobe);
  assert.throws(() => bare.prog.attachUsdt(bin, 'bpfmap', 'args'), /has no __bpf_usdt_specs map/);
  // a truncated copy of the binary: an error, never a crash
  const cut = join(dir, 'cut');
  writeFileSync(cut, execFileSync('head', ['-c', '200', bin]));
  assert.throws(() => prog.attachUsdt(cut, 'bpfmap', 'args'), UsdtError);
  // indexed addressing, which usdt.bpf.h 1.1 cannot express: the error names the probe and the argument
  const bytes = readFileSync(bin);
  const at = bytes.indexOf('-4@$7 -4@$-9\0');
  assert.ok(at > 0);
  bytes.write('4@(%ax,%bx) ', at, 'latin1');
  const sib = join(dir, 'sib');
  writeFileSync(sib, bytes, { mode: 0o755 });
  assert.throws(
    () => o.programs.on_consts.attachUsdt(sib, 'bpfmap', 'consts'),
    (e) =>
      e instanceof UsdtError &&
      /bpfmap:consts/.test(e.message) &&
      /argument 0 "4@\(%ax,%bx\)": indexed addressing/.test(e.message),
  );
  assert.equal(
    [...o.maps.__bpf_usdt_specs.keys()].filter((k) => o.maps.__bpf_usdt_specs.lookup(k).some((b) => b !== 0)).length,
    0,
    'nothing was written for a probe that failed',
  );
});

test('a failure half way detaches what was attached, clears the specs and says how far it got', async (t) => {
  const { dir, bin, o, out } = build(t);
  const notes = readUsdtNotes(bin).notes;
  const second = notes.filter((n) => n.name === 'twice')[1];
  const sema = notes.find((n) => n.name === 'sema').sema;
  // the second location gets an odd semaphore address, which the kernel refuses (ref_ctr_offset must be aligned)
  const bytes = readFileSync(bin);
  const pc = Buffer.alloc(8);
  pc.writeBigUInt64LE(second.pc);
  const at = bytes.indexOf(pc, bytes.indexOf('stapsdt\0'));
  assert.ok(at > 0 && bytes.readBigUInt64LE(at + 16) === 0n);
  bytes.writeBigUInt64LE(sema + 1n, at + 16);
  const bad = join(dir, 'bad');
  writeFileSync(bad, bytes, { mode: 0o755 });
  assert.throws(
    () => o.programs.on_twice.attachUsdt(bad, 'bpfmap', 'twice'),
    /failed attaching location 2 of 2 .*\(1 of 2 attached, now detached\)/,
  );
  const specs = o.maps.__bpf_usdt_specs;
  assert.equal([...specs.keys()].filter((k) => specs.lookup(k).some((b) => b !== 0)).length, 0);
  const p = await run(t, bad);
  await p.fire(1);
  assert.equal(out(13), 0n, 'the first location was detached again');
});

/** The `struct __bpf_usdt_spec` (usdt.bpf.h 1.1) in `bytes`: its args and cookie. */
function decodeSpec(bytes) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getInt16(200, true);
  const args = [];
  for (let i = 0; i < n; i++)
    args.push({
      valOff: BigInt.asIntN(64, v.getBigUint64(16 * i, true)),
      type: v.getUint32(16 * i + 8, true),
      regOff: v.getInt16(16 * i + 12, true),
      signed: v.getUint8(16 * i + 14),
      shift: v.getInt8(16 * i + 15),
    });
  return { args, cookie: v.getBigUint64(192, true) };
}

test('the spec bytes are usdt.bpf.h 1.1 layout; arm64 argument forms parse to user_pt_regs offsets', (t) => {
  const { dir, bin, o } = build(t);
  const specs = o.maps.__bpf_usdt_specs;
  const written = () => [...specs.keys()].map((k) => specs.lookup(k)).filter((b) => b.some((x) => x !== 0));
  const l = o.programs.on_consts.attachUsdt(bin, 'bpfmap', 'consts', { cookie: -2 });
  const [spec] = written().map(decodeSpec);
  l.close();
  // "-4@$7 -4@$-9": CONST (0), signed, 32 bits shifted out
  assert.deepEqual(spec, {
    args: [
      { valOff: 7n, type: 0, regOff: 0, signed: 1, shift: 32 },
      { valOff: -9n, type: 0, regOff: 0, signed: 1, shift: 32 },
    ],
    cookie: 2n ** 64n - 2n,
  });
  // the same binary relabelled as arm64 (e_machine 183), its consts probe given arm64 operands
  const bytes = readFileSync(bin);
  bytes.writeUInt16LE(183, 18);
  const at = bytes.indexOf('-4@$7 -4@$-9\0');
  bytes.write('-4@x3 8@[sp]', at, 'latin1');
  const a64 = join(dir, 'a64');
  writeFileSync(a64, bytes, { mode: 0o755 });
  const l2 = o.programs.on_consts.attachUsdt(a64, 'bpfmap', 'consts');
  const [armSpec] = written().map(decodeSpec);
  l2.close();
  assert.deepEqual(armSpec.args, [
    { valOff: 0n, type: 1, regOff: 24, signed: 1, shift: 32 },
    { valOff: 0n, type: 2, regOff: 248, signed: 0, shift: 0 },
  ]);
  bytes.writeUInt16LE(243, 18); // riscv
  writeFileSync(a64, bytes);
  assert.throws(() => o.programs.on_consts.attachUsdt(a64, 'bpfmap', 'consts'), /machine 243 are not supported/);
});

test('hostile binaries: corrupted headers and notes give a UsdtError or a result, never another exception or a hang', (t) => {
  const { dir, bin } = build(t);
  const good = readFileSync(bin);
  const noteAt = good.indexOf('stapsdt\0') - 12;
  assert.ok(noteAt > 0);
  let seed = 12345;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const f = join(dir, 'hostile');
  for (let i = 0; i < 400; i++) {
    const b = Buffer.from(good);
    for (let k = 0; k < 1 + rnd(6); k++) {
      // the ELF and program headers, the section headers, or the notes
      const zone = rnd(3);
      const off = zone === 0 ? rnd(64 + 56 * 13) : zone === 1 ? b.length - 1 - rnd(64 * 40) : noteAt + rnd(400);
      b[off] = rnd(256);
    }
    writeFileSync(f, b);
    try {
      readUsdtNotes(f);
    } catch (e) {
      assert.ok(e instanceof UsdtError, `round ${i}: ${e?.stack}`);
    }
  }
});
