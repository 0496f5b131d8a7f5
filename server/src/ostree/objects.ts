// Names and verification of the loose objects and delta parts that
// flat-manager clients upload (POST /api/v1/build/<id>/upload). An object is
// checked while it streams in, so a bad one never lands in the upload repo.
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { createInflateRaw, inflateRawSync, type InflateRaw } from 'node:zlib';
import {
  checksumHeader,
  COMMIT_TYPE,
  DIRMETA_TYPE,
  DIRTREE_TYPE,
  normalFormError,
  parseContentHeader,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  type ContentHeader,
} from './object-header.ts';

/** Object types an archive-z2 upload carries (`filez` = compressed content). */
export type ObjectType = 'commit' | 'dirtree' | 'dirmeta' | 'filez';
export const OBJECT_TYPES: readonly ObjectType[] = ['commit', 'dirtree', 'dirmeta', 'filez'];

export class InvalidObjectNameError extends Error {
  readonly filename: string;
  constructor(filename: string, reason: string) {
    super(`invalid upload filename ${JSON.stringify(filename.slice(0, 200))}: ${reason}`);
    this.name = 'InvalidObjectNameError';
    this.filename = filename;
  }
}

/** Base class: the uploaded bytes are not the object their name promises. */
export class ObjectVerificationError extends Error {
  readonly type: ObjectType;
  readonly expected: string;
  constructor(type: ObjectType, expected: string, message: string) {
    super(message);
    this.name = 'ObjectVerificationError';
    this.type = type;
    this.expected = expected;
  }
}

export class ObjectChecksumError extends ObjectVerificationError {
  readonly actual: string;
  constructor(type: ObjectType, expected: string, actual: string) {
    super(type, expected, `${type} object ${expected}: content checksums to ${actual}`);
    this.name = 'ObjectChecksumError';
    this.actual = actual;
  }
}

/** Structurally broken: bad header, truncated, trailing bytes, size mismatch, wrong type. */
export class MalformedObjectError extends ObjectVerificationError {
  readonly reason: string;
  constructor(type: ObjectType, expected: string, reason: string) {
    super(type, expected, `${type} object ${expected} is malformed: ${reason}`);
    this.name = 'MalformedObjectError';
    this.reason = reason;
  }
}

const CHECKSUM = /^[0-9a-f]{64}$/;

export function parseObjectName(filename: string): { checksum: string; type: ObjectType } {
  const dot = filename.indexOf('.');
  if (dot < 0) throw new InvalidObjectNameError(filename, 'no type suffix');
  const checksum = filename.slice(0, dot);
  const type = filename.slice(dot + 1);
  if (!CHECKSUM.test(checksum)) throw new InvalidObjectNameError(filename, 'name must be 64 lowercase hex digits');
  if (!(OBJECT_TYPES as readonly string[]).includes(type)) {
    throw new InvalidObjectNameError(filename, `unknown object type ${JSON.stringify(type)}`);
  }
  return { checksum, type: type as ObjectType };
}

/** Where a loose object lives inside a repo, e.g. `objects/ab/cdef….filez`. */
export function objectRelativePath(checksum: string, type: ObjectType): string {
  return `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${type}`;
}

export interface DeltaPartName {
  /** `[from-]to` in ostree's modified base64, as in `deltas/` and the summary. */
  deltaName: string;
  from: string | null;
  to: string;
  part: 'superblock' | number;
  /** e.g. `deltas/oS/6Qi…-sdm…/0`, as ostree and flat-manager lay them out. */
  relativePath: string;
}

const B64_CHECKSUM = /^[A-Za-z0-9+_]{43}$/;

/** Decodes ostree's modified base64 ('_' for '/', no padding) to hex, or null. */
function b64ChecksumToHex(s: string): string | null {
  if (!B64_CHECKSUM.test(s)) return null;
  const bytes = Buffer.from(s.replaceAll('_', '/') + '=', 'base64');
  // Refuse non-canonical spellings (stray low bits in the last character): two
  // names must never map to the same delta.
  if (bytes.length !== 32 || bytes.toString('base64').replaceAll('/', '_') !== s + '=') return null;
  return bytes.toString('hex');
}

/**
 * Static delta parts as flat-manager accepts them: `<to>.<part>.delta` or
 * `<from>-<to>.<part>.delta`, checksums in modified base64, part `superblock`
 * or a decimal index. Stricter than flat-manager (which checks lengths only).
 */
export function parseDeltaPartName(filename: string): DeltaPartName {
  const bits = filename.split('.');
  if (bits.length !== 3 || bits[2] !== 'delta') throw new InvalidObjectNameError(filename, 'not <name>.<part>.delta');
  const [deltaName = '', partName = ''] = bits;
  let part: 'superblock' | number;
  if (partName === 'superblock') part = 'superblock';
  else if (/^(0|[1-9][0-9]{0,9})$/.test(partName) && Number(partName) <= 0xffffffff) part = Number(partName);
  else throw new InvalidObjectNameError(filename, 'delta part must be "superblock" or a part number');
  const checksums = deltaName.split('-');
  const hex = checksums.map(b64ChecksumToHex);
  if (checksums.length > 2 || hex.some((h) => h === null)) {
    throw new InvalidObjectNameError(filename, 'delta name must be [<from>-]<to> in modified base64');
  }
  return {
    deltaName,
    from: hex.length === 2 ? hex[0]! : null,
    to: hex[hex.length - 1]!,
    part,
    relativePath: `deltas/${deltaName.slice(0, 2)}/${deltaName.slice(2)}/${partName}`,
  };
}

export interface ObjectVerifier {
  /**
   * Feeds the next bytes of the object. Await it before feeding more: it
   * resolves once the chunk is consumed, which keeps memory bounded. Rejects
   * (early) once the object is known to be bad.
   */
  update(chunk: Buffer): Promise<void>; // keeps references to chunks: do not reuse their memory
  /** After the last chunk: resolves if the object matches its name, else rejects with an ObjectVerificationError. */
  finish(): Promise<void>;
}

// OSTREE_MAX_METADATA_SIZE: ostree refuses larger metadata objects anyway.
const MAX_METADATA_SIZE = 128 * 1024 * 1024;
// Real headers are well under a KiB; xattrs are the only variable part.
const MAX_CONTENT_HEADER_SIZE = 1024 * 1024;
// Most content objects are small, and a zlib stream per object costs more than
// inflating them in one go. Below these sizes the compressed bytes are kept and
// inflated at finish() (on the calling thread, ~0.2 ms of work at most, output
// capped at the declared size); anything bigger streams through zlib's thread
// pool, which lets two cores share the work when many objects are checked at once.
// Uploads verify their small objects in worker threads (domain/builds/upload-workers.ts),
// one object at a time per thread, where a thread-pool round trip per chunk costs more than
// the inflate itself: 256 KiB made a 4 MiB upload request ~30% faster, while verifying from
// disk 8 at a time (bench/verify-objects.ts) preferred 16 KiB.
const SMALL_COMPRESSED = 256 * 1024;
const SMALL_DECLARED = 4 * 1024 * 1024;

/** The chunks as one buffer, without a copy when there is only one (a small object read in one go). */
function joined(chunks: Buffer[], length: number): Buffer {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
}

export function createObjectVerifier(type: ObjectType, expectedChecksum: string): ObjectVerifier {
  if (!CHECKSUM.test(expectedChecksum)) throw new InvalidObjectNameError(expectedChecksum, 'not a checksum');
  return type === 'filez'
    ? new ContentVerifier(expectedChecksum)
    : new MetadataVerifier(type, expectedChecksum);
}

/** commit/dirtree/dirmeta: the name is the SHA-256 of the bytes. */
class MetadataVerifier implements ObjectVerifier {
  readonly #type: Exclude<ObjectType, 'filez'>;
  readonly #expected: string;
  readonly #hash = createHash('sha256');
  // Kept to check the structure at the end: the same bytes could otherwise be
  // uploaded under another metadata type and pass the checksum.
  readonly #chunks: Buffer[] = [];
  #length = 0;

  constructor(type: Exclude<ObjectType, 'filez'>, expected: string) {
    this.#type = type;
    this.#expected = expected;
  }

  async update(chunk: Buffer): Promise<void> {
    this.#length += chunk.length;
    if (this.#length > MAX_METADATA_SIZE) throw this.#malformed(`larger than ${MAX_METADATA_SIZE} bytes`);
    this.#hash.update(chunk);
    this.#chunks.push(chunk);
  }

  async finish(): Promise<void> {
    const actual = this.#hash.digest('hex');
    if (actual !== this.#expected) throw new ObjectChecksumError(this.#type, this.#expected, actual);
    const bytes = joined(this.#chunks, this.#length);
    const gvType = { commit: COMMIT_TYPE, dirtree: DIRTREE_TYPE, dirmeta: DIRMETA_TYPE }[this.#type];
    const bad = normalFormError(gvType, bytes);
    if (bad) throw this.#malformed(`not a valid ${this.#type}: ${bad}`);
    if (this.#type === 'dirmeta' && (bytes.readUInt32BE(8) & S_IFMT) !== S_IFDIR) {
      throw this.#malformed('dirmeta mode is not a directory');
    }
  }

  #malformed(reason: string) {
    return new MalformedObjectError(this.#type, this.#expected, reason);
  }
}

/**
 * filez: [u32 BE header length][4 zero bytes][(tuuuusa(ayay)) header][raw
 * deflate of the content]. The name is the SHA-256 of the uncompressed form:
 * [u32 BE length][4 zero bytes][(uuuusa(ayay))][content].
 */
class ContentVerifier implements ObjectVerifier {
  readonly #expected: string;
  readonly #hash: Hash = createHash('sha256');
  #prefix: Buffer[] = []; // bytes until the header is complete
  #prefixLength = 0;
  #pending: Buffer[] = []; // compressed bytes of a small object, inflated at finish()
  #header: ContentHeader | null = null;
  #symlink = false; // a symlink's content is its target, in the header: nothing follows
  #declared = 0;
  #inflater: InflateRaw | null = null;
  #fed = 0; // compressed bytes received (pending or given to the inflater)
  #inflated = 0;
  #failure: Error | null = null;

  constructor(expected: string) {
    this.#expected = expected;
  }

  async update(chunk: Buffer): Promise<void> {
    this.#throwIfFailed();
    if (this.#header === null) {
      this.#prefix.push(chunk);
      this.#prefixLength += chunk.length;
      const rest = this.#tryParseHeader();
      if (rest === null) return;
      chunk = rest;
    }
    if (chunk.length === 0) return;
    if (this.#symlink) throw this.#fail('data after a symlink header');
    this.#fed += chunk.length;
    if (this.#inflater === null) {
      this.#pending.push(chunk);
      if (this.#fed <= SMALL_COMPRESSED && this.#declared <= SMALL_DECLARED) return;
      chunk = Buffer.concat(this.#pending);
      this.#pending = [];
      this.#inflater = this.#createInflater();
    }
    if (!this.#inflater.write(chunk)) await this.#drained(this.#inflater);
    this.#throwIfFailed();
  }

  async finish(): Promise<void> {
    this.#throwIfFailed();
    if (this.#header === null) {
      throw this.#fail(`truncated: ${this.#prefixLength} bytes and no complete header`);
    }
    const inflater = this.#inflater;
    if (!this.#symlink && inflater === null) {
      this.#inflateSmall();
    } else if (inflater !== null) {
      await new Promise<void>((resolve) => {
        // 'close' also covers a destroy after a failure, which the checks below report.
        inflater.once('end', resolve);
        inflater.once('close', resolve);
        inflater.end();
      });
      this.#throwIfFailed();
      this.#checkEnd(inflater.bytesWritten, this.#inflated);
    }
    const actual = this.#hash.digest('hex');
    if (actual !== this.#expected) throw new ObjectChecksumError('filez', this.#expected, actual);
  }

  #inflateSmall(): void {
    let result: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // maxOutputLength stops a bomb one byte past the declared size; an output chunk of
      // that size gets the content in one buffer (zlib's 16 KiB default means a concat).
      const options = { info: true, maxOutputLength: this.#declared + 1, chunkSize: Math.max(64, this.#declared + 1) } as const;
      result = inflateRawSync(joined(this.#pending, this.#fed), options) as unknown as typeof result;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw this.#fail(`content inflates beyond the declared ${this.#declared} bytes`);
      }
      throw this.#fail(`bad compressed content: ${(e as Error).message}`);
    }
    this.#pending = [];
    this.#checkEnd(result.engine.bytesWritten, result.buffer.length);
    this.#hash.update(result.buffer);
  }

  #checkEnd(consumed: number, inflated: number): void {
    // zlib stops at the end of the deflate stream and ignores what follows.
    if (consumed !== this.#fed) {
      throw this.#fail(`${this.#fed - consumed} bytes of trailing data after the compressed content`);
    }
    if (inflated !== this.#declared) {
      throw this.#fail(`content is ${inflated} bytes, header says ${this.#declared}`);
    }
  }

  /** Parses the header once enough bytes are in; returns the bytes after it, or null if more are needed. */
  #tryParseHeader(): Buffer | null {
    if (this.#prefixLength < 8) return null;
    const buf = joined(this.#prefix, this.#prefixLength);
    this.#prefix = [buf];
    const headerLength = buf.readUInt32BE(0);
    if (headerLength === 0 || headerLength > MAX_CONTENT_HEADER_SIZE) {
      throw this.#fail(`header length ${headerLength} out of range`);
    }
    if (buf.readUInt32BE(4) !== 0) throw this.#fail('non-zero header padding');
    if (buf.length < 8 + headerLength) return null;
    let header: ContentHeader;
    try {
      header = parseContentHeader(buf.subarray(8, 8 + headerLength));
    } catch (e) {
      throw this.#fail((e as Error).message);
    }
    if (header.size > BigInt(Number.MAX_SAFE_INTEGER)) throw this.#fail(`declared size ${header.size} is absurd`);
    this.#header = header;
    this.#symlink = (header.mode & S_IFMT) === S_IFLNK;
    this.#declared = Number(header.size);
    this.#prefix = [];
    this.#hash.update(checksumHeader(header));
    return buf.subarray(8 + headerLength);
  }

  #createInflater(): InflateRaw {
    const inflater = createInflateRaw({ chunkSize: 64 * 1024 });
    inflater.on('data', (out: Buffer) => {
      this.#inflated += out.length;
      // Stop a zip bomb as soon as it exceeds what the header promised.
      if (this.#inflated > this.#declared) {
        this.#fail(`content inflates beyond the declared ${this.#declared} bytes`);
        inflater.destroy();
        return;
      }
      this.#hash.update(out);
    });
    inflater.on('error', (e: Error) => this.#fail(`bad compressed content: ${e.message}`));
    return inflater;
  }

  #drained(inflater: InflateRaw): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        inflater.off('drain', done);
        inflater.off('close', done);
        resolve();
      };
      inflater.on('drain', done);
      inflater.on('close', done); // destroyed after a failure
    });
  }

  #fail(reason: string): Error {
    this.#failure ??= new MalformedObjectError('filez', this.#expected, reason);
    return this.#failure;
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }
}

/** A Writable over a verifier: `await pipeline(source, objectVerifierStream(type, checksum))`. */
export function objectVerifierStream(type: ObjectType, checksum: string): Writable {
  const verifier = createObjectVerifier(type, checksum);
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      verifier.update(chunk).then(() => callback(), callback);
    },
    final(callback) {
      verifier.finish().then(() => callback(), callback);
    },
  });
}

/** Verifies a whole stream of object bytes; rejects with ObjectVerificationError. */
export async function verifyObjectStream(
  source: AsyncIterable<Buffer>,
  type: ObjectType,
  checksum: string,
): Promise<void> {
  const verifier = createObjectVerifier(type, checksum);
  for await (const chunk of source) await verifier.update(chunk);
  await verifier.finish();
}

/** Verifies an object file on disk, streaming (plain reads: a ReadStream per small file costs more than the check). */
export async function verifyObjectFile(path: string, type: ObjectType, checksum: string): Promise<void> {
  const verifier = createObjectVerifier(type, checksum);
  const file = await open(path);
  try {
    const { size } = await file.stat();
    for (;;) {
      // Fresh buffers: the verifier may hold on to them. Asking for one byte
      // more than is left lets a short read end the loop without another read.
      const buf = Buffer.allocUnsafe(Math.min(size + 1, 1024 * 1024));
      const { bytesRead } = await file.read(buf, 0, buf.length, null);
      if (bytesRead > 0) await verifier.update(buf.subarray(0, bytesRead));
      if (bytesRead < buf.length) break; // a regular file reads short only at its end
    }
  } finally {
    await file.close();
  }
  await verifier.finish();
}
