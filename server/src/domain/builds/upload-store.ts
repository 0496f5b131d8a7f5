// The per-build upload repo on disk: an archive-z2 OSTree repo whose `parent` is the main
// repo, filled one loose object (or static delta part) at a time. Every object streams into a
// temp file while the verifier checks it against its name; only a verified, complete object is
// renamed into place, so a bad or interrupted upload never leaves anything behind, and the same
// object uploaded twice (or by two requests at once) ends up as one good file.
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { InvalidInputError } from '../errors.ts';
import { InsufficientStorageError } from './states.ts';
import { Yielder } from '../yielder.ts';
import {
  createObjectVerifier,
  InvalidObjectNameError,
  objectRelativePath,
  ObjectVerificationError,
  parseDeltaPartName,
  parseObjectName,
  type ObjectType,
} from '../../ostree/objects.ts';
import * as ostree from '../../ostree/ostree.ts';

export type UploadLimits = {
  /** largest single object or delta part accepted */
  maxObjectBytes: number;
  /** uploads are refused while less than this is free on the upload disk */
  minFreeBytes: number;
};

export const defaultUploadLimits: UploadLimits = {
  maxObjectBytes: 8 * 1024 ** 3,
  minFreeBytes: 1024 ** 3,
};

/** One part of an upload request: its file name and its bytes. */
export type UploadPart = { filename: string; body: AsyncIterable<Buffer> };

/** What an uploaded file name designates, and where it goes in the upload repo. */
export type UploadTarget = { relativePath: string; object: { type: ObjectType; checksum: string } | null };

export function uploadTarget(filename: string): UploadTarget {
  try {
    if (filename.endsWith('.delta')) {
      // Delta parts carry their own checksums inside the superblock; `build-commit-from` does not use them.
      return { relativePath: parseDeltaPartName(filename).relativePath, object: null };
    }
    const object = parseObjectName(filename);
    return { relativePath: objectRelativePath(object.checksum, object.type), object };
  } catch (err) {
    if (err instanceof InvalidObjectNameError) throw new InvalidInputError(err.message, 'filename');
    throw err;
  }
}

/** `ostree init` plus a `parent=` line: objects already in the main repo count as present. */
export async function initRepoWithParent(dir: string, parent: string | null): Promise<void> {
  await mkdir(dir, { recursive: true });
  await ostree.init(dir, { mode: 'archive-z2' });
  if (parent) {
    const configPath = path.join(dir, 'config');
    const config = await readFile(configPath, 'utf8');
    await writeFile(configPath, config.replace(/^\[core\]$/m, `[core]\nparent=${parent}`));
  }
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
}

/** missing_objects answers for at most this many names per request. */
export const MAX_WANTED_OBJECTS = 1_000_000;

const OBJECT_TYPES = new Set(['commit', 'dirtree', 'dirmeta', 'filez']);

/** Value of a lowercase hex digit's char code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * The object directory (0-255, from the first two hex digits) of `<64 hex>.<type>`, or -1 when
 * the name is not an object name. By hand: a regular expression costs several times more, and
 * missing_objects checks up to a million names per request.
 */
function objectDirOf(name: unknown): number {
  if (typeof name !== 'string' || name.length < 70 || name.length > 72 || name.charCodeAt(64) !== 46) return -1;
  for (let i = 2; i < 64; i++) if (hexValue(name.charCodeAt(i)) < 0) return -1;
  const hi = hexValue(name.charCodeAt(0));
  const lo = hexValue(name.charCodeAt(1));
  if (hi < 0 || lo < 0 || !OBJECT_TYPES.has(name.slice(65))) return -1;
  return hi * 16 + lo;
}

/**
 * Which of `wanted` neither the upload repo nor its parent has, in the order asked. Names that
 * are not object names are refused. Names are looked up by object directory (`objects/xx`):
 * a directory that does not exist answers for all its names at once; the upload repo belongs
 * to one build and stays small, so each of its directories is listed once; a parent directory
 * is listed when that is cheaper than asking per name (many names, small directory), otherwise
 * asked per name. File system calls are synchronous (each is a few microseconds; a thread-pool
 * round trip per directory costs more on a busy machine), and a large request yields to the
 * event loop every few milliseconds.
 */
export async function missingObjects(uploadRepo: string, parentRepo: string | null, wanted: readonly string[]): Promise<string[]> {
  const yielder = new Yielder();
  const byDir: number[][] = Array.from({ length: 256 }, () => []);
  for (let i = 0; i < wanted.length; i++) {
    const dir = objectDirOf(wanted[i]);
    if (dir < 0) throw new InvalidInputError(`invalid object name ${JSON.stringify(String(wanted[i]).slice(0, 100))}`, 'wanted');
    byDir[dir]!.push(i);
    if ((i & 4095) === 4095) await yielder.maybe();
  }
  const present = new Uint8Array(wanted.length);
  const uploadDirs = listDir(`${uploadRepo}/objects`);
  const parentDirs = parentRepo ? listDir(`${parentRepo}/objects`) : new Set<string>();
  for (let d = 0; d < 256; d++) {
    const group = byDir[d]!;
    if (group.length === 0) continue;
    const prefix = d.toString(16).padStart(2, '0');
    if (uploadDirs.has(prefix)) {
      const names = listDir(`${uploadRepo}/objects/${prefix}`);
      if (names.size > 0) for (const i of group) if (names.has((wanted[i] as string).slice(2))) present[i] = 1;
    }
    if (parentDirs.has(prefix)) {
      const left = group.filter((i) => !present[i]);
      const dir = `${parentRepo}/objects/${prefix}`;
      const size = left.length >= PER_NAME_BELOW ? statSync(dir, { throwIfNoEntry: false })?.size : undefined;
      if (size !== undefined && size <= left.length * LIST_BYTES_PER_NAME) {
        const names = listDir(dir);
        if (names.size > 0) for (const i of left) if (names.has((wanted[i] as string).slice(2))) present[i] = 1;
      } else {
        for (let k = 0; k < left.length; k++) {
          const i = left[k]!;
          if (existsSync(`${dir}/${(wanted[i] as string).slice(2)}`)) present[i] = 1;
          if ((k & 127) === 127) await yielder.maybe();
        }
      }
    }
    await yielder.maybe();
  }
  const missing: string[] = [];
  for (let i = 0; i < wanted.length; i++) {
    if (!present[i]) missing.push(wanted[i]!);
    if ((i & 16383) === 16383) await yielder.maybe();
  }
  return missing;
}

/** With fewer names than this in one object directory, asking per name beats listing it. */
const PER_NAME_BELOW = 8;
/**
 * A directory is listed when its size is at most this many bytes per name asked for. Directory
 * sizes overstate the entry count on every common filesystem (ext4 ~80 bytes per object entry,
 * tmpfs 20, xfs/btrfs about the names' length), and listing costs far less per entry than a
 * lookup costs per name, so this errs towards lookups on huge directories.
 */
const LIST_BYTES_PER_NAME = 400;

function listDir(dir: string): Set<string> {
  try {
    return new Set(readdirSync(dir));
  } catch {
    return new Set();
  }
}

export async function checkFreeSpace(dir: string, needed: number, limits: UploadLimits): Promise<void> {
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  if (free - needed < limits.minFreeBytes) {
    throw new InsufficientStorageError(`not enough free disk space for uploads (${Math.floor(free / 1024 ** 2)} MiB free, ${Math.ceil((needed + limits.minFreeBytes) / 1024 ** 2)} MiB needed)`);
  }
}

/**
 * Streams one part into the upload repo: temp file in the repo's tmp/, verified while it
 * is written, then renamed into place. Returns the number of bytes stored.
 */
export async function storeUpload(uploadRepo: string, part: UploadPart, limits: UploadLimits, madeDirs?: Set<string>): Promise<number> {
  const { size, stored } = await receiveUpload(uploadRepo, part, limits, { madeDirs });
  await stored;
  return size;
}

/**
 * Reads one part to its end and starts storing it: `stored` settles once the object is verified
 * and in place, or rejects having left nothing behind. The caller may read the next part
 * meanwhile, so that the objects of one request are verified and written side by side while the
 * request is still arriving, and little is left to do when its last byte lands.
 *
 * Most objects are small: they are held in memory (as the request's own buffers) until their
 * last byte, then verified and written in one go by `store` (the upload workers' threads, or
 * `storeVerified` here). Larger ones are verified as they stream through a temp file, before
 * this resolves.
 */
export async function receiveUpload(
  uploadRepo: string,
  part: UploadPart,
  limits: UploadLimits,
  o: { madeDirs?: Set<string>; store?: (job: ReceivedObject) => Promise<void> } = {},
): Promise<{ size: number; stored: Promise<void> }> {
  const target = uploadTarget(part.filename);
  const dest = path.join(uploadRepo, target.relativePath);
  const tmp = path.join(uploadRepo, 'tmp', tempName());
  const rejected = (err: unknown) =>
    err instanceof ObjectVerificationError ? new InvalidInputError(`rejected ${part.filename}: ${err.message}`, 'file') : err;
  const buffered: Buffer[] = [];
  let size = 0;
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  let streamed = false;
  let done = false;
  try {
    // Only an object that outgrows memory is verified here, as it streams (a small one is verified whole, by `store`).
    let verifier: ReturnType<typeof createObjectVerifier> | null = null;
    for await (const chunk of part.body) {
      size += chunk.length;
      if (size > limits.maxObjectBytes) throw new InvalidInputError(`${part.filename} is larger than ${limits.maxObjectBytes} bytes`, 'file');
      if (!fh && size <= smallObjectBytes) {
        buffered.push(chunk);
        continue;
      }
      if (!fh) {
        streamed = true;
        verifier = target.object && createObjectVerifier(target.object.type, target.object.checksum);
        fh = await open(tmp, 'wx', 0o644);
        for (const b of buffered.splice(0)) {
          if (verifier) await verifier.update(b);
          await fh.write(b);
        }
      }
      if (verifier) await verifier.update(chunk);
      await fh.write(chunk);
    }
    if (fh) {
      if (verifier) await verifier.finish();
      ensureDir(dest, o.madeDirs);
      await fh.close();
      fh = undefined;
      renameSync(tmp, dest);
      done = true;
      return { size, stored: Promise.resolve() };
    }
  } catch (err) {
    throw rejected(err);
  } finally {
    if (streamed && !done) {
      await fh?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
  const received: ReceivedObject = { chunks: buffered, size, object: target.object, tmp, dest };
  const here = async () => storeVerified({ ...received, bytes: buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered, size) }, o.madeDirs);
  const stored = (o.store ? o.store(received) : here()).catch((err: unknown) => {
    throw rejected(err);
  });
  // Handled by the caller; this only keeps a rejection that lands before it looks from being reported as unhandled.
  stored.catch(() => undefined);
  return { size, stored };
}

/** A small object to verify and put in place: its bytes, what its name says it is, its temp file and its place. */
export type StoreJob = { bytes: Uint8Array; object: { type: ObjectType; checksum: string } | null; tmp: string; dest: string };
/** A small object as read from a request: its bytes are the request's own buffers (shared with other parts). */
export type ReceivedObject = Omit<StoreJob, 'bytes'> & { chunks: Buffer[]; size: number };

/**
 * Verifies an object held in memory against its name, then writes it to its temp file and
 * renames it into place (synchronous calls: a small file's write and rename take microseconds,
 * less than thread-pool round trips). Throws ObjectVerificationError for bad bytes.
 */
export async function storeVerified(job: StoreJob, madeDirs?: Set<string>): Promise<void> {
  if (job.object) {
    const verifier = createObjectVerifier(job.object.type, job.object.checksum);
    await verifier.update(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength));
    await verifier.finish();
  }
  ensureDir(job.dest, madeDirs);
  writeFileSync(job.tmp, job.bytes, { mode: 0o644, flag: 'wx' });
  try {
    renameSync(job.tmp, job.dest);
  } catch (err) {
    unlinkSync(job.tmp);
    throw err;
  }
}

function ensureDir(dest: string, madeDirs?: Set<string>): void {
  const dir = path.dirname(dest);
  if (!madeDirs?.has(dir)) {
    mkdirSync(dir, { recursive: true });
    madeDirs?.add(dir);
  }
}

/** Objects up to this size are verified in memory and written in one go. */
const smallObjectBytes = 512 * 1024;

// A temp file's name says which process writes it (pid@host): a process that was killed mid-upload
// (kill -9, a crash) leaves its file behind, and a later start can tell it from a live upload.
// A random part per process and a counter keep names apart without drawing random bytes per object.
const tempPrefix = `upload-${process.pid}-${randomBytes(6).toString('hex')}`;
const host = os.hostname();
let tempCounter = 0;
function tempName(): string {
  return `${tempPrefix}${(tempCounter++).toString(16).padStart(8, '0')}@${host}`;
}

const TEMP_RE = /^upload-(?:(\d+)-[0-9a-f]+@(.+)|[0-9a-f]+)$/;

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes the temp files of an upload repo that no live upload writes: those written by a process
 * of this host that is gone, and any other not written to for `maxIdleMs` (another host's, or a
 * live process that stalled that long). `all` removes every one (the build is over). Returns how many.
 */
export async function removeUploadTemps(uploadRepo: string, o: { all?: boolean; maxIdleMs: number }): Promise<number> {
  const dir = path.join(uploadRepo, 'tmp');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m) continue;
    const file = path.join(dir, name);
    let stale = o.all === true || (m[1] !== undefined && m[2] === os.hostname() && Number(m[1]) !== process.pid && processGone(Number(m[1])));
    if (!stale) {
      const st = await stat(file).catch(() => null);
      stale = !!st && Date.now() - st.mtimeMs > o.maxIdleMs;
    }
    if (stale && (await unlink(file).then(() => true, () => false))) removed++;
  }
  return removed;
}
