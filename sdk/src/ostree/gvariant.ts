// A small GVariant serializer and parser (normal form, little-endian), enough
// for ostree's detached metadata: `.commitmeta`, `summary.sig`,
// `summary.idx.sig` and `summaries/<sha>.idx.sig` are each one `a{sv}` whose
// `ostree.gpgsigs` entry is a variant holding `aay` (binary OpenPGP signatures).
//
// Nothing on npm does this, so it is ours. The rules, from the GVariant
// specification (and as GLib implements them):
// - Basic fixed types have size = alignment (b,y:1 n,q:2 i,u,h:4 x,t,d:8);
//   strings are their bytes plus a NUL, alignment 1.
// - A variant is its child's bytes, a NUL, then the child's type string; alignment 8.
// - An array of fixed-size elements is their concatenation. An array of
//   variable-size elements is each element (padded to the element alignment)
//   followed by a table of framing offsets: the end position of every element.
// - A struct / dict entry lays out members at their alignments; each
//   variable-size member except the last gets its end position recorded in a
//   framing offset, and these are stored at the end in reverse order.
//   Fixed-size structs are padded to a multiple of their alignment instead.
// - Every framing offset in a container has the same width: the smallest of
//   1/2/4/8 bytes for which the container's total size, offsets included,
//   fits in that width (found by trial, which is what keeps output byte-identical
//   to GLib for 1-, 2- and >64 KiB signature sets).
//
// Unknown entries of a dict are kept as raw bytes with their type string, so
// rewriting a file after adding a signature never loses or reorders other keys.

/** A value of a `v` kept in serialized form: its type string and its exact bytes. */
export interface RawVariant {
  type: string;
  bytes: Uint8Array;
}

/** JS forms: b→boolean, y/n/q/i/u/h/d→number, x/t→bigint, s/o/g→string, ay→Uint8Array,
 * other arrays→array, structs/dict entries→array (tuple), v→RawVariant. */
export type GValue = boolean | number | bigint | string | Uint8Array | RawVariant | GValue[];

export class GVariantError extends Error {
  override readonly name = 'GVariantError';
}

interface TypeInfo {
  alignment: number;
  /** null when the type is variable-size. */
  fixedSize: number | null;
}

const BASIC: Record<string, TypeInfo> = {
  b: { alignment: 1, fixedSize: 1 },
  y: { alignment: 1, fixedSize: 1 },
  n: { alignment: 2, fixedSize: 2 },
  q: { alignment: 2, fixedSize: 2 },
  i: { alignment: 4, fixedSize: 4 },
  u: { alignment: 4, fixedSize: 4 },
  h: { alignment: 4, fixedSize: 4 },
  x: { alignment: 8, fixedSize: 8 },
  t: { alignment: 8, fixedSize: 8 },
  d: { alignment: 8, fixedSize: 8 },
  s: { alignment: 1, fixedSize: null },
  o: { alignment: 1, fixedSize: null },
  g: { alignment: 1, fixedSize: null },
  v: { alignment: 8, fixedSize: null },
};

/** Length of the first complete type in `sig` starting at `pos`. */
function typeEnd(sig: string, pos: number): number {
  const c = sig[pos];
  if (c === undefined) throw new GVariantError(`truncated type string ${JSON.stringify(sig)}`);
  if (c in BASIC) return pos + 1;
  if (c === 'a' || c === 'm') return typeEnd(sig, pos + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let p = pos + 1;
    while (sig[p] !== close) {
      if (p >= sig.length) throw new GVariantError(`unterminated ${c} in ${JSON.stringify(sig)}`);
      p = typeEnd(sig, p);
    }
    return p + 1;
  }
  throw new GVariantError(`unsupported type character ${JSON.stringify(c)} in ${JSON.stringify(sig)}`);
}

/** Splits the member types of a struct or dict entry type. */
function memberTypes(type: string): string[] {
  const out: string[] = [];
  let p = 1;
  while (p < type.length - 1) {
    const e = typeEnd(type, p);
    out.push(type.slice(p, e));
    p = e;
  }
  return out;
}

export function isValidType(type: string): boolean {
  try {
    return typeEnd(type, 0) === type.length;
  } catch {
    return false;
  }
}

const infoCache = new Map<string, TypeInfo>();

function info(type: string): TypeInfo {
  const hit = infoCache.get(type);
  if (hit) return hit;
  let r: TypeInfo;
  const c = type[0]!;
  if (c in BASIC) r = BASIC[c]!;
  else if (c === 'a' || c === 'm') r = { alignment: info(type.slice(1)).alignment, fixedSize: null };
  else if (c === '(' || c === '{') {
    const members = memberTypes(type).map(info);
    const alignment = Math.max(1, ...members.map((m) => m.alignment));
    let fixedSize: number | null = 0;
    for (const m of members) {
      if (m.fixedSize === null) {
        fixedSize = null;
        break;
      }
      fixedSize = alignUp(fixedSize, m.alignment) + m.fixedSize;
    }
    // The unit type () occupies one byte; other fixed structs pad to their alignment.
    if (fixedSize !== null) fixedSize = members.length === 0 ? 1 : alignUp(fixedSize, alignment);
    r = { alignment, fixedSize };
  } else throw new GVariantError(`unsupported type ${JSON.stringify(type)}`);
  infoCache.set(type, r);
  return r;
}

function alignUp(n: number, a: number): number {
  return (n + a - 1) & ~(a - 1);
}

/** Width of framing offsets for a container of `total` serialized bytes (reading side). */
function offsetWidthForTotal(total: number): number {
  if (total === 0) return 0;
  if (total <= 0xff) return 1;
  if (total <= 0xffff) return 2;
  if (total <= 0xffffffff) return 4;
  return 8;
}

/** Width of framing offsets when writing `n` offsets after `body` bytes: the smallest that fits. */
function offsetWidthForBody(body: number, n: number): number {
  if (n === 0) return 0;
  for (const w of [1, 2, 4]) {
    if (body + n * w <= 2 ** (8 * w) - 1) return w;
  }
  return 8;
}

function writeOffset(out: Uint8Array, at: number, width: number, value: number): void {
  for (let i = 0; i < width; i++) out[at + i] = Number((BigInt(value) >> BigInt(8 * i)) & 0xffn);
}

function readOffset(buf: Uint8Array, at: number, width: number): number {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[at + i]!);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GVariantError('framing offset too large');
  return Number(v);
}

/** Accumulates a container body, padding each child to its alignment relative to the container start. */
class Writer {
  private parts: Uint8Array[] = [];
  length = 0;
  pad(alignment: number): void {
    const n = alignUp(this.length, alignment) - this.length;
    if (n > 0) this.push(new Uint8Array(n));
  }
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  finish(offsets: number[]): Uint8Array {
    const width = offsetWidthForBody(this.length, offsets.length);
    const out = new Uint8Array(this.length + width * offsets.length);
    let p = 0;
    for (const part of this.parts) {
      out.set(part, p);
      p += part.length;
    }
    for (const off of offsets) {
      writeOffset(out, p, width, off);
      p += width;
    }
    return out;
  }
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

/** Serializes `value` as GVariant `type` (normal form, little-endian). */
export function serialize(type: string, value: GValue): Uint8Array {
  if (!isValidType(type)) throw new GVariantError(`invalid type ${JSON.stringify(type)}`);
  return ser(type, value);
}

function ser(type: string, value: GValue): Uint8Array {
  const c = type[0]!;
  const fail = () => new GVariantError(`value does not match type ${type}`);
  switch (c) {
    case 'b':
      if (typeof value !== 'boolean') throw fail();
      return Uint8Array.of(value ? 1 : 0);
    case 'y':
    case 'n':
    case 'q':
    case 'i':
    case 'u':
    case 'h':
    case 'x':
    case 't': {
      if (typeof value !== 'number' && typeof value !== 'bigint') throw fail();
      const size = BASIC[c]!.fixedSize!;
      const out = new Uint8Array(size);
      const dv = new DataView(out.buffer);
      const big = BigInt(value);
      if (c === 'y') dv.setUint8(0, Number(big));
      else if (c === 'n') dv.setInt16(0, Number(big), true);
      else if (c === 'q') dv.setUint16(0, Number(big), true);
      else if (c === 'i' || c === 'h') dv.setInt32(0, Number(big), true);
      else if (c === 'u') dv.setUint32(0, Number(big), true);
      else if (c === 'x') dv.setBigInt64(0, big, true);
      else dv.setBigUint64(0, big, true);
      return out;
    }
    case 'd': {
      if (typeof value !== 'number') throw fail();
      const out = new Uint8Array(8);
      new DataView(out.buffer).setFloat64(0, value, true);
      return out;
    }
    case 's':
    case 'o':
    case 'g': {
      if (typeof value !== 'string') throw fail();
      const b = utf8.encode(value);
      if (b.includes(0)) throw new GVariantError('strings may not contain NUL');
      const out = new Uint8Array(b.length + 1);
      out.set(b);
      return out;
    }
    case 'v': {
      if (!isRawVariant(value)) throw fail();
      if (!isValidType(value.type)) throw new GVariantError(`invalid variant type ${value.type}`);
      const t = utf8.encode(value.type);
      const out = new Uint8Array(value.bytes.length + 1 + t.length);
      out.set(value.bytes);
      out.set(t, value.bytes.length + 1);
      return out;
    }
    case 'a': {
      const elem = type.slice(1);
      if (elem === 'y') {
        if (!(value instanceof Uint8Array)) throw fail();
        return value.slice();
      }
      if (!Array.isArray(value)) throw fail();
      const ei = info(elem);
      const w = new Writer();
      const ends: number[] = [];
      for (const item of value) {
        w.pad(ei.alignment);
        w.push(ser(elem, item));
        if (ei.fixedSize === null) ends.push(w.length);
      }
      return w.finish(ends);
    }
    case '(':
    case '{': {
      if (!Array.isArray(value)) throw fail();
      const members = memberTypes(type);
      if (value.length !== members.length) throw fail();
      const ti = info(type);
      const w = new Writer();
      const ends: number[] = [];
      members.forEach((mt, i) => {
        const mi = info(mt);
        w.pad(mi.alignment);
        w.push(ser(mt, value[i]!));
        if (mi.fixedSize === null && i < members.length - 1) ends.push(w.length);
      });
      if (ti.fixedSize !== null) {
        if (members.length === 0) return new Uint8Array(1);
        w.pad(ti.alignment);
        return w.finish([]);
      }
      return w.finish(ends.reverse());
    }
    default:
      throw new GVariantError(`unsupported type ${type}`);
  }
}

function isRawVariant(v: GValue): v is RawVariant {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && 'type' in v;
}

/** Parses serialized GVariant bytes of `type`. Throws GVariantError on data that is not well-formed. */
export function parse(type: string, bytes: Uint8Array): GValue {
  if (!isValidType(type)) throw new GVariantError(`invalid type ${JSON.stringify(type)}`);
  return de(type, bytes);
}

function de(type: string, b: Uint8Array): GValue {
  const c = type[0]!;
  const ti = info(type);
  if (ti.fixedSize !== null && b.length !== ti.fixedSize) {
    throw new GVariantError(`${type}: expected ${ti.fixedSize} bytes, got ${b.length}`);
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (c) {
    case 'b':
      return b[0] !== 0;
    case 'y':
      return b[0]!;
    case 'n':
      return dv.getInt16(0, true);
    case 'q':
      return dv.getUint16(0, true);
    case 'i':
    case 'h':
      return dv.getInt32(0, true);
    case 'u':
      return dv.getUint32(0, true);
    case 'x':
      return dv.getBigInt64(0, true);
    case 't':
      return dv.getBigUint64(0, true);
    case 'd':
      return dv.getFloat64(0, true);
    case 's':
    case 'o':
    case 'g': {
      if (b.length === 0 || b[b.length - 1] !== 0) throw new GVariantError('string is not NUL-terminated');
      const body = b.subarray(0, b.length - 1);
      if (body.includes(0)) throw new GVariantError('string contains NUL');
      return utf8d.decode(body);
    }
    case 'v': {
      const nul = b.lastIndexOf(0);
      if (nul < 0) throw new GVariantError('variant without type string');
      const vt = utf8d.decode(b.subarray(nul + 1));
      if (!isValidType(vt)) throw new GVariantError(`variant has invalid type ${JSON.stringify(vt)}`);
      const child = b.slice(0, nul);
      const ci = info(vt);
      if (ci.fixedSize !== null && child.length !== ci.fixedSize) throw new GVariantError(`variant ${vt} has wrong size`);
      return { type: vt, bytes: child };
    }
    case 'a': {
      const elem = type.slice(1);
      if (elem === 'y') return b.slice();
      const ei = info(elem);
      if (ei.fixedSize !== null) {
        if (b.length % ei.fixedSize !== 0) throw new GVariantError(`${type}: size not a multiple of element size`);
        const out: GValue[] = [];
        for (let p = 0; p < b.length; p += ei.fixedSize) out.push(de(elem, b.subarray(p, p + ei.fixedSize)));
        return out;
      }
      return splitVariableArray(b, ei.alignment).map((s) => de(elem, s));
    }
    case '(':
    case '{':
      return splitStruct(type, b).map(([mt, s]) => de(mt, s));
    default:
      throw new GVariantError(`unsupported type ${type}`);
  }
}

function splitVariableArray(b: Uint8Array, alignment: number): Uint8Array[] {
  if (b.length === 0) return [];
  const w = offsetWidthForTotal(b.length);
  const tableStart = readOffset(b, b.length - w, w);
  if (tableStart > b.length || (b.length - tableStart) % w !== 0) throw new GVariantError('bad array framing');
  const n = (b.length - tableStart) / w;
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = readOffset(b, tableStart + i * w, w);
    const s = alignUp(start, alignment);
    if (end < s || end > tableStart) throw new GVariantError('bad array element offset');
    out.push(b.subarray(s, end));
    start = end;
  }
  return out;
}

function splitStruct(type: string, b: Uint8Array): Array<[string, Uint8Array]> {
  const members = memberTypes(type);
  const w = offsetWidthForTotal(b.length);
  let offsetsUsed = 0;
  let pos = 0;
  const out: Array<[string, Uint8Array]> = [];
  members.forEach((mt, i) => {
    const mi = info(mt);
    pos = alignUp(pos, mi.alignment);
    let end: number;
    if (mi.fixedSize !== null) end = pos + mi.fixedSize;
    else if (i === members.length - 1) end = b.length - offsetsUsed * w;
    else {
      offsetsUsed++;
      end = readOffset(b, b.length - offsetsUsed * w, w);
    }
    if (end < pos || end > b.length - offsetsUsed * w) throw new GVariantError(`bad ${type} framing`);
    out.push([mt, b.subarray(pos, end)]);
    pos = end;
  });
  return out;
}

// --- a{sv}: ostree's metadata dictionaries ----------------------------------

/** An `a{sv}` kept in file order; values stay serialized so unknown keys round-trip untouched. */
export type VarDict = Map<string, RawVariant>;

export function parseVarDict(bytes: Uint8Array): VarDict {
  const out: VarDict = new Map();
  for (const entry of parse('a{sv}', bytes) as GValue[]) {
    const [key, value] = entry as [string, RawVariant];
    out.set(key, value);
  }
  return out;
}

export function serializeVarDict(dict: VarDict): Uint8Array {
  return serialize(
    'a{sv}',
    [...dict].map(([k, v]) => [k, v]),
  );
}

/** Builds a RawVariant from a JS value. */
export function variant(type: string, value: GValue): RawVariant {
  return { type, bytes: serialize(type, value) };
}

/** Reads a RawVariant as a JS value, checking it has the expected type. */
export function unwrap(v: RawVariant, expectedType: string): GValue {
  if (v.type !== expectedType) throw new GVariantError(`expected ${expectedType}, found ${v.type}`);
  return parse(v.type, v.bytes);
}
