/**
 * Values of `__kconfig` externs: `LINUX_KERNEL_VERSION` from uname, and
 * `CONFIG_*` from the running kernel's configuration (`/proc/config.gz`,
 * else `/boot/config-$(uname -r)`), written into the `.kconfig` map as the
 * extern's C type wants them (bool, tristate, char, integers, strings).
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { ObjectError } from '../elf/error.js';
import { BTF_INT_BOOL, BTF_INT_SIGNED, BtfKind } from '../btf/kinds.js';
import type { BtfType } from '../btf/parse.js';
import { skipModifiers, typeAt } from './btf-util.js';
import type { ExternSpec } from './spec.js';

let cached: Map<string, string> | undefined;

/** The kernel configuration as `CONFIG_X` → its text (`y`, `m`, `"str"`, `123`); empty when unavailable. */
export function kernelConfig(): Map<string, string> {
  if (cached) return cached;
  let text: string | undefined;
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
  } catch {
    try {
      text = readFileSync(`/boot/config-${release()}`, 'utf8');
    } catch {
      text = undefined;
    }
  }
  const m = new Map<string, string>();
  for (const line of (text ?? '').split('\n')) {
    const eq = line.indexOf('=');
    if (!line.startsWith('CONFIG_') || eq < 0) continue;
    m.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  cached = m;
  return m;
}

/** `KERNEL_VERSION(a, b, c)` of the running kernel, as libbpf computes it (c capped at 255). */
export function kernelVersionCode(): number {
  const [a = 0, b = 0, c = 0] = release()
    .split(/[.-]/)
    .slice(0, 3)
    .map((x) => Number.parseInt(x, 10) || 0);
  return (a << 16) + (b << 8) + Math.min(c, 255);
}

/**
 * Writes each kconfig extern's value into `out` (the `.kconfig` map's bytes).
 * @throws {ObjectError} for a strong extern the configuration lacks, or a value its type cannot hold.
 */
export function fillKconfig(out: Uint8Array, externs: readonly ExternSpec[], types: readonly BtfType[]): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let config: Map<string, string> | undefined;
  for (const e of externs) {
    if (e.kind !== 'kconfig') continue;
    const fail = (msg: string) => new ObjectError(`extern ${e.name}: ${msg}`, { section: '.kconfig' });
    let text: string | undefined;
    if (e.name === 'LINUX_KERNEL_VERSION') text = String(kernelVersionCode());
    else if (e.name === 'LINUX_HAS_SYSCALL_WRAPPER') text = 'y';
    else if (e.name === 'LINUX_HAS_BPF_COOKIE') text = 'y';
    else if (e.name.startsWith('CONFIG_')) {
      config ??= kernelConfig();
      if (config.size === 0 && !e.weak)
        throw fail(
          'the kernel configuration is unavailable (no /proc/config.gz, no /boot/config-$(uname -r)); declare it __weak to load with 0',
        );
      text = config.get(e.name);
    } else if (!e.weak) throw fail('unknown __kconfig extern: only LINUX_KERNEL_VERSION, LINUX_HAS_* and CONFIG_* are known');
    if (text === undefined) {
      if (!e.weak) throw fail(`the running kernel's configuration does not set it; declare it __weak to load with 0`);
      continue; // a weak extern stays 0
    }
    const t = typeAt(types, skipModifiers(types, e.typeId, e.name), e.name);
    const at = e.offset;
    const isTristate = t.kind === BtfKind.Enum && t.name === 'libbpf_tristate';
    const isBool = t.kind === BtfKind.Int && ((t.intEncoding ?? 0) & BTF_INT_BOOL) !== 0;
    const isChar =
      t.kind === BtfKind.Int &&
      t.size === 1 &&
      !isBool &&
      (t.name === 'char' || t.name === 'signed char' || t.name === 'unsigned char');
    if (text === 'y' || text === 'n' || text === 'm') {
      if (isBool) {
        if (text === 'm') throw fail('the kernel sets it to m (a module): declare it as enum libbpf_tristate or char');
        view.setUint8(at, text === 'y' ? 1 : 0);
      } else if (isTristate) view.setUint32(at, text === 'y' ? 1 : text === 'm' ? 2 : 0, true);
      else if (isChar) view.setUint8(at, text.charCodeAt(0));
      else throw fail(`the kernel sets it to ${text}: declare it as bool, enum libbpf_tristate or char`);
      continue;
    }
    if (text.startsWith('"')) {
      if (t.kind !== BtfKind.Array) throw fail(`the kernel sets it to the string ${text}: declare it as a char array`);
      if (text.length < 2 || !text.endsWith('"')) throw fail(`malformed string value ${text}`);
      const s = Buffer.from(text.slice(1, -1), 'utf8');
      const n = Math.min(s.length, e.size - 1);
      out.set(s.subarray(0, n), at); // truncated like libbpf, always NUL-terminated
      continue;
    }
    if (t.kind !== BtfKind.Int && t.kind !== BtfKind.Enum)
      throw fail(`the kernel sets it to the number ${text}: declare it as an integer`);
    let n: bigint;
    try {
      n = BigInt(text);
    } catch {
      throw fail(`the value ${text} is not a number`);
    }
    const bits = BigInt(e.size * 8);
    const signed = t.kind === BtfKind.Int && ((t.intEncoding ?? 0) & BTF_INT_SIGNED) !== 0;
    const lo = signed ? -(1n << (bits - 1n)) : 0n;
    const hi = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    if (n < lo || n > hi) throw fail(`the value ${text} does not fit its ${e.size}-byte type`);
    let u = BigInt.asUintN(Number(bits), n);
    for (let i = 0; i < e.size; i++) {
      view.setUint8(at + i, Number(u & 0xffn));
      u >>= 8n;
    }
  }
}
