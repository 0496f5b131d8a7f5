// Just enough GVariant to check OSTree objects: a normal-form validator for
// the types ostree objects use, and the content-object ("filez") header.
// Framing rules: https://docs.gtk.org/glib/gvariant-format-strings.html and the
// GVariant serialisation spec (offsets little-endian, sized by container size).
// ostree itself refuses metadata that is not in normal form
// (ostree_validate_structureof_*), so being strict here rejects nothing ostree
// would accept, and it lets us tell a dirtree from a commit of the same bytes.

type GvType =
  | { kind: 'fixed'; code: string; size: number; align: number }
  | { kind: 'string' }
  | { kind: 'variant' }
  | { kind: 'array'; elem: GvType }
  | { kind: 'maybe'; elem: GvType }
  | { kind: 'tuple'; members: GvType[] }; // also dict entries

const FIXED: Record<string, number> = { y: 1, b: 1, n: 2, q: 2, i: 4, u: 4, h: 4, x: 8, t: 8, d: 8 };
// GLib's G_VARIANT_MAX_RECURSION_DEPTH; bounds our recursion on hostile input.
const MAX_DEPTH = 128;

/** Parses one complete type at `s[pos]`; returns it and the position after it. */
function parseType(s: string, pos: number, depth: number): [GvType, number] {
  if (depth > MAX_DEPTH) throw new Error('type nested too deeply');
  const c = s[pos];
  if (c === undefined) throw new Error('truncated type string');
  const size = FIXED[c];
  if (size !== undefined) return [{ kind: 'fixed', code: c, size, align: size }, pos + 1];
  if (c === 's' || c === 'o' || c === 'g') return [{ kind: 'string' }, pos + 1];
  if (c === 'v') return [{ kind: 'variant' }, pos + 1];
  if (c === 'a' || c === 'm') {
    const [elem, next] = parseType(s, pos + 1, depth + 1);
    return [{ kind: c === 'a' ? 'array' : 'maybe', elem }, next];
  }
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    const members: GvType[] = [];
    let p = pos + 1;
    while (s[p] !== close) {
      const [m, next] = parseType(s, p, depth + 1);
      members.push(m);
      p = next;
    }
    if (c === '{' && (members.length !== 2 || members[0]?.kind !== 'fixed' && members[0]?.kind !== 'string')) {
      throw new Error('bad dict entry type');
    }
    return [{ kind: 'tuple', members }, p + 1];
  }
  throw new Error(`unsupported type character ${JSON.stringify(c)}`);
}

export function parseGvType(s: string): GvType {
  const [t, end] = parseType(s, 0, 0);
  if (end !== s.length) throw new Error(`not a single type: ${s}`);
  return t;
}

function alignOf(t: GvType): number {
  switch (t.kind) {
    case 'fixed': return t.align;
    case 'string': return 1;
    case 'variant': return 8;
    case 'array': case 'maybe': return alignOf(t.elem);
    case 'tuple': return Math.max(1, ...t.members.map(alignOf));
  }
}

const alignUp = (n: number, a: number) => (n + a - 1) & ~(a - 1);

/** Size of a fixed-size type, or null when its size varies. */
function fixedSize(t: GvType): number | null {
  if (t.kind === 'fixed') return t.size;
  if (t.kind !== 'tuple') return null;
  let size = 0;
  for (const m of t.members) {
    const ms = fixedSize(m);
    if (ms === null) return null;
    size = alignUp(size, alignOf(m)) + ms;
  }
  return size === 0 ? 1 : alignUp(size, alignOf(t)); // the unit tuple takes one byte
}

/** Width of framing offsets in a container of `size` bytes (reader's rule). */
export function offsetSize(size: number): number {
  return size === 0 ? 0 : size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
}

function readOffset(b: Buffer, pos: number, width: number): number {
  return width === 1 ? b[pos]! : width === 2 ? b.readUInt16LE(pos) : b.readUInt32LE(pos);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function zeroes(b: Buffer, from: number, to: number): void {
  for (let i = from; i < to; i++) if (b[i] !== 0) throw new Error('non-zero padding');
}

/** Throws a descriptive Error unless `b` is `t` in GVariant normal form. */
function check(t: GvType, b: Buffer, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error('value nested too deeply');
  switch (t.kind) {
    case 'fixed':
      if (b.length !== t.size) throw new Error(`'${t.code}' of ${b.length} bytes`);
      if (t.code === 'b' && b[0]! > 1) throw new Error('boolean not 0 or 1');
      return;
    case 'string': {
      const nul = b.indexOf(0);
      if (nul !== b.length - 1) throw new Error('string not NUL-terminated or has an inner NUL');
      utf8.decode(b.subarray(0, nul)); // throws on invalid UTF-8
      return;
    }
    case 'variant': {
      const sep = b.lastIndexOf(0);
      if (sep < 0) throw new Error('variant without type string');
      const inner = parseGvType(b.toString('latin1', sep + 1));
      check(inner, b.subarray(0, sep), depth + 1);
      return;
    }
    case 'maybe': {
      if (b.length === 0) return; // Nothing
      const es = fixedSize(t.elem);
      if (es !== null) return check(t.elem, b, depth + 1);
      if (b[b.length - 1] !== 0) throw new Error('maybe without trailing NUL');
      return check(t.elem, b.subarray(0, b.length - 1), depth + 1);
    }
    case 'array': {
      const es = fixedSize(t.elem);
      if (es !== null) {
        if (b.length % es !== 0) throw new Error('array length not a multiple of its element size');
        if (t.elem.kind !== 'fixed' || t.elem.code === 'b') {
          for (let p = 0; p < b.length; p += es) check(t.elem, b.subarray(p, p + es), depth + 1);
        }
        return;
      }
      if (b.length === 0) return;
      const w = offsetSize(b.length);
      const dataEnd = readOffset(b, b.length - w, w);
      if (dataEnd > b.length - w || (b.length - dataEnd) % w !== 0) throw new Error('bad array framing');
      const align = alignOf(t.elem);
      let start = 0;
      for (let o = dataEnd; o < b.length; o += w) {
        const end = readOffset(b, o, w);
        const aligned = alignUp(start, align);
        if (aligned > end || end > dataEnd) throw new Error('bad array element offset');
        zeroes(b, start, aligned);
        check(t.elem, b.subarray(aligned, end), depth + 1);
        start = end;
      }
      if (start !== dataEnd) throw new Error('array elements do not fill the array');
      return;
    }
    case 'tuple': {
      const total = fixedSize(t);
      if (total !== null && b.length !== total) throw new Error(`tuple of ${b.length} bytes, expected ${total}`);
      const w = total === null ? offsetSize(b.length) : 0;
      let framing = b.length; // framing offsets are read backwards from the end
      let pos = 0;
      t.members.forEach((m, i) => {
        const aligned = alignUp(pos, alignOf(m));
        const ms = fixedSize(m);
        let end: number;
        if (ms !== null) end = aligned + ms;
        else if (i === t.members.length - 1) end = framing;
        else {
          framing -= w;
          if (framing < 0) throw new Error('bad tuple framing');
          end = readOffset(b, framing, w);
        }
        if (aligned > end || end > framing) throw new Error('bad tuple member offset');
        zeroes(b, pos, aligned);
        check(m, b.subarray(aligned, end), depth + 1);
        pos = end;
      });
      if (total !== null) zeroes(b, pos, total);
      else if (pos !== framing) throw new Error('tuple has bytes between members and framing');
      return;
    }
  }
}

/** Returns null when `b` is a normal-form `t`, else why not. */
export function normalFormError(t: GvType, b: Buffer): string | null {
  try {
    check(t, b, 0);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export const COMMIT_TYPE = parseGvType('(a{sv}aya(say)sstayay)');
export const DIRTREE_TYPE = parseGvType('(a(say)a(sayay))');
export const DIRMETA_TYPE = parseGvType('(uuua(ayay))');
const ZLIB_FILE_HEADER_TYPE = parseGvType('(tuuuusa(ayay))');

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFDIR = 0o040000;

/** The header of an archive-z2 content object, `(tuuuusa(ayay))`. */
export interface ContentHeader {
  size: bigint;
  mode: number;
  /** uid, gid, mode, rdev exactly as stored (big-endian u32s), for re-serialising. */
  statBytes: Buffer;
  symlinkTarget: string;
  /** The serialised `a(ayay)`; its framing is self-relative, so it is copied as is. */
  xattrs: Buffer;
}

/** Parses and checks a zlib file header; throws an Error saying what is wrong. */
export function parseContentHeader(b: Buffer): ContentHeader {
  const bad = normalFormError(ZLIB_FILE_HEADER_TYPE, b);
  if (bad) throw new Error(`header is not a valid (tuuuusa(ayay)): ${bad}`);
  // Layout: t@0, u@8..24, s@24..end-of-s (the only framing offset), a(ayay) up to it.
  const w = offsetSize(b.length);
  const sEnd = readOffset(b, b.length - w, w);
  const mode = b.readUInt32BE(16);
  if (b.readUInt32BE(20) !== 0) throw new Error('rdev is not 0');
  const type = mode & S_IFMT;
  if (type !== S_IFREG && type !== S_IFLNK) throw new Error(`mode 0${mode.toString(8)} is neither a regular file nor a symlink`);
  if ((mode & ~S_IFMT & ~0o7777) !== 0) throw new Error(`mode 0${mode.toString(8)} has invalid bits`);
  const symlinkTarget = b.toString('utf8', 24, sEnd - 1);
  // ostree hashes "" as the target of a regular file whatever the header says, so
  // a regular file carrying a target would verify while meaning something else.
  if (type === S_IFREG && symlinkTarget !== '') throw new Error('regular file with a symlink target');
  if (type === S_IFLNK && symlinkTarget === '') throw new Error('symlink with an empty target');
  return {
    size: b.readBigUInt64BE(0),
    mode,
    statBytes: b.subarray(8, 24),
    symlinkTarget,
    xattrs: b.subarray(sEnd, b.length - w),
  };
}

/**
 * The bytes ostree hashes before the file content: u32 BE length, 4 zero bytes,
 * then `(uuuusa(ayay))` (ostree's _ostree_file_header_new written by
 * _ostree_write_variant_with_size). The offset width follows the writer's rule:
 * the smallest width w with body + w <= the width's maximum.
 */
export function checksumHeader(h: ContentHeader): Buffer {
  const target = Buffer.from(h.symlinkTarget + '\0', 'utf8');
  const body = 16 + target.length + h.xattrs.length;
  const w = body + 1 <= 0xff ? 1 : body + 2 <= 0xffff ? 2 : 4;
  const out = Buffer.alloc(8 + body + w);
  out.writeUInt32BE(body + w, 0);
  h.statBytes.copy(out, 8);
  target.copy(out, 24);
  h.xattrs.copy(out, 24 + target.length);
  out.writeUIntLE(16 + target.length, 8 + body, w);
  return out;
}
