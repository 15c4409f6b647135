/**
 * `ObjectError`: a BPF object file (ELF) that cannot be read or loaded, naming
 * where: the ELF section and byte offset, the program, the map or extern.
 */

/** Where in an object file a problem is: every field is optional. */
export interface ObjectErrorWhere {
  /** The ELF section the problem is in (`.maps`, `xdp`, `.rel.text`, …). */
  section?: string | undefined;
  /** Byte offset in that section (or in the file, for the ELF header and section table). */
  offset?: number | undefined;
  /** The program (C function name) being prepared or loaded. */
  program?: string | undefined;
  /** The map (C name, or `.rodata`, …) concerned. */
  map?: string | undefined;
  /** The cause: a `BpfError` from the kernel, a `CoreRelocationError`, … */
  cause?: unknown;
}

/**
 * A BPF object file that cannot be read, or an object that cannot be loaded
 * as written: malformed ELF, bad relocations, unknown sections, unresolved
 * externs, a verifier refusal during `load()` (then `cause` is the `BpfError`
 * and `log` its verifier log).
 */
export class ObjectError extends Error {
  /** The ELF section, when one is concerned. */
  readonly section: string | undefined;
  /** Byte offset in `section` (or in the file for header problems). */
  readonly offset: number | undefined;
  /** The program being prepared or loaded. */
  readonly program: string | undefined;
  /** The map concerned. */
  readonly map: string | undefined;
  /** The verifier's log when the kernel refused a program (from the `BpfError` cause). */
  readonly log: string | undefined;
  /** The message without the location prefix (`program x, section y: `). */
  readonly reason: string;

  constructor(message: string, where: ObjectErrorWhere = {}) {
    const at: string[] = [];
    if (where.program !== undefined) at.push(`program ${where.program}`);
    if (where.map !== undefined) at.push(`map ${where.map}`);
    if (where.section !== undefined) at.push(`section ${where.section}`);
    if (where.offset !== undefined) at.push(`offset ${where.offset}`);
    super(at.length ? `${at.join(', ')}: ${message}` : message, where.cause === undefined ? undefined : { cause: where.cause });
    this.name = 'ObjectError';
    this.reason = message;
    this.section = where.section;
    this.offset = where.offset;
    this.program = where.program;
    this.map = where.map;
    const log = (where.cause as { log?: unknown } | undefined)?.log;
    this.log = typeof log === 'string' ? log : undefined;
  }
}
