/**
 * Loading BTF into the kernel (BPF_BTF_LOAD) and the BTF a map created from
 * codecs carries. A `Btf` owns its fd like a `BpfMap` does; a map keeps its
 * own reference, so the fd may be closed right after the map is created.
 */
import type { Codec } from '../codec/codec.js';
import { BpfError, errnoName } from '../errors.js';
import { btfLoad } from '../sys/bpf.js';
import { OwnedFd } from '../sys/owned-fd.js';
import { BtfBuilder } from './build.js';

const LOG_SIZE = 1 << 20;

/** Keeps the end of a kernel log, where the reason is, within `max` lines. */
export function trimLog(log: string, max = 30): string {
  const HEADER = /^(magic|version|flags|hdr_len|type_off|type_len|str_off|str_len|btf_total_size): /;
  const lines = log
    .replace(/\0.*$/s, '')
    .trimEnd()
    .split('\n')
    .filter((l) => !HEADER.test(l));
  return lines.length <= max ? lines.join('\n') : ['…', ...lines.slice(-max)].join('\n');
}

/** A BTF object loaded into the kernel (BPF_BTF_LOAD), owning its fd. */
export class Btf extends OwnedFd {
  protected readonly what = 'BTF object';

  private constructor(fd: number) {
    super(fd);
  }

  /**
   * Loads a BTF blob. On refusal the kernel is asked again with a log, which
   * the `BpfError` carries (`err.log`).
   * @kernel 4.18
   */
  static load(blob: Uint8Array): Btf {
    if (!(blob instanceof Uint8Array) || blob.length === 0) throw new TypeError('Btf.load takes a non-empty Uint8Array');
    const fd = btfLoad(blob, null, 0);
    if (fd >= 0) return new Btf(fd);
    const log = new Uint8Array(LOG_SIZE);
    const again = btfLoad(blob, log, 1);
    if (again >= 0) return new Btf(again); // refused only without a log: take it
    const text = trimLog(Buffer.from(log).toString('utf8'));
    throw new BpfError('BPF_BTF_LOAD', -again, {
      hint:
        errnoName(-again) === 'EPERM'
          ? 'loading BTF needs CAP_BPF or CAP_SYS_ADMIN'
          : 'the kernel refused the BTF; its log follows',
      log: text || undefined,
    });
  }
}

/** BTF describing a map's key and value, with the type ids to create the map with. */
export interface MapTypeBtf {
  blob: Uint8Array;
  /** 0 when the map has no key. */
  keyTypeId: number;
  valueTypeId: number;
}

/**
 * BTF for a map's key and value: a side with a codec is described by it, a
 * side without one as an unsigned integer of its size (1, 2, 4, 8 bytes) or
 * an `unsigned char` array. LPM-trie keys that are not structs are described
 * as `struct bpf_lpm_trie_key_u8 { __u32 prefixlen; __u8 data[n - 4]; }`.
 */
export function mapTypeBtf(
  key: Codec<unknown> | undefined,
  value: Codec<unknown> | undefined,
  keySize: number,
  valueSize: number,
  opts: { lpmTrie?: boolean } = {},
): MapTypeBtf {
  const b = new BtfBuilder();
  let keyTypeId: number;
  if (keySize === 0) keyTypeId = 0;
  else if (key && (key.kind === 'struct' || !opts.lpmTrie)) keyTypeId = b.codec(key, 'key');
  else if (opts.lpmTrie)
    keyTypeId = b.lpmKey(keySize); // the kernel wants a struct key on LPM tries
  else keyTypeId = b.bytes(keySize);
  const valueTypeId = value ? b.codec(value, 'value') : b.bytes(valueSize);
  return { blob: b.build(), keyTypeId, valueTypeId };
}
