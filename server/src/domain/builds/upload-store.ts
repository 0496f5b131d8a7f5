// The per-build upload repo on disk: an archive-z2 OSTree repo whose `parent` is the main
// repo, filled one loose object (or static delta part) at a time. Every object streams into a
// temp file while the verifier checks it against its name; only a verified, complete object is
// renamed into place, so a bad or interrupted upload never leaves anything behind, and the same
// object uploaded twice (or by two requests at once) ends up as one good file.
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
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
  type ObjectVerifier,
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
export type UploadTarget = { relativePath: string; verifier: ObjectVerifier | null };

export function uploadTarget(filename: string): UploadTarget {
  try {
    if (filename.endsWith('.delta')) {
      // Delta parts carry their own checksums inside the superblock; `build-commit-from` does not use them.
      return { relativePath: parseDeltaPartName(filename).relativePath, verifier: null };
    }
    const { checksum, type } = parseObjectName(filename);
    return { relativePath: objectRelativePath(checksum, type), verifier: createObjectVerifier(type, checksum) };
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

const OBJECT_NAME_RE = /^[0-9a-f]{64}\.(commit|dirtree|dirmeta|filez)$/;

/**
 * Which of `wanted` neither the upload repo nor its parent has, in the order asked. Names that
 * are not object names are refused. Names are looked up by object directory (`objects/xx`):
 * the upload repo belongs to one build and stays small, so each of its directories is listed
 * once; a parent directory is listed when that is cheaper than asking per name (many names,
 * small directory; a missing directory answers for all its names at once), otherwise asked per
 * name. Lookups of a large request yield to the event loop every few milliseconds.
 */
export async function missingObjects(uploadRepo: string, parentRepo: string | null, wanted: readonly string[]): Promise<string[]> {
  const yielder = new Yielder();
  const byPrefix = new Map<string, number[]>();
  for (let i = 0; i < wanted.length; i++) {
    const name = wanted[i];
    if (typeof name !== 'string' || !OBJECT_NAME_RE.test(name)) {
      throw new InvalidInputError(`invalid object name ${JSON.stringify(String(name).slice(0, 100))}`, 'wanted');
    }
    const prefix = name.slice(0, 2);
    const group = byPrefix.get(prefix);
    if (group) group.push(i);
    else byPrefix.set(prefix, [i]);
    if ((i & 1023) === 1023) await yielder.maybe();
  }
  const present = new Uint8Array(wanted.length);
  const prefixes = [...byPrefix.keys()];
  const uploaded = await mapLimited(prefixes, 8, (prefix) => listDir(`${uploadRepo}/objects/${prefix}`));
  for (let p = 0; p < prefixes.length; p++) {
    const names = uploaded[p]!;
    if (names.size === 0) continue;
    for (const i of byPrefix.get(prefixes[p]!)!) if (names.has(wanted[i]!.slice(2))) present[i] = 1;
  }
  if (parentRepo) {
    await mapLimited(prefixes, 8, async (prefix) => {
      const left = byPrefix.get(prefix)!.filter((i) => !present[i]);
      if (left.length === 0) return;
      const dir = `${parentRepo}/objects/${prefix}`;
      if (left.length >= PER_NAME_BELOW) {
        const st = await stat(dir).catch(() => null);
        if (!st) return; // no such directory: none of them is there
        if (st.size <= left.length * LIST_BYTES_PER_NAME) {
          const names = await listDir(dir);
          for (const i of left) if (names.has(wanted[i]!.slice(2))) present[i] = 1;
          return;
        }
      }
      for (let k = 0; k < left.length; k++) {
        const i = left[k]!;
        if (existsSync(`${dir}/${wanted[i]!.slice(2)}`)) present[i] = 1;
        if ((k & 127) === 127) await yielder.maybe();
      }
    });
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

async function listDir(dir: string): Promise<Set<string>> {
  try {
    return new Set(await readdir(dir));
  } catch {
    return new Set();
  }
}

/** Runs `fn` over `items`, at most `limit` at once (the thread pool does the file system work). */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
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
  const target = uploadTarget(part.filename);
  const dest = path.join(uploadRepo, target.relativePath);
  const tmp = path.join(uploadRepo, 'tmp', tempName());
  const ensureDir = () => {
    const dir = path.dirname(dest);
    if (!madeDirs?.has(dir)) {
      mkdirSync(dir, { recursive: true });
      madeDirs?.add(dir);
    }
  };
  // Most objects are small: they are held in memory (as the request's own buffers, not copied)
  // until their last byte, verified in one go, then written and renamed with synchronous calls
  // (microseconds each), which is far cheaper than a thread-pool round trip per file operation.
  // Larger ones are verified as they stream through a temp file.
  const buffered: Buffer[] = [];
  let size = 0;
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  let done = false;
  try {
    for await (const chunk of part.body) {
      size += chunk.length;
      if (size > limits.maxObjectBytes) throw new InvalidInputError(`${part.filename} is larger than ${limits.maxObjectBytes} bytes`, 'file');
      if (!fh && size <= smallObjectBytes) {
        buffered.push(chunk);
        continue;
      }
      if (!fh) {
        fh = await open(tmp, 'wx', 0o644);
        for (const b of buffered.splice(0)) {
          if (target.verifier) await target.verifier.update(b);
          await fh.write(b);
        }
      }
      if (target.verifier) await target.verifier.update(chunk);
      await fh.write(chunk);
    }
    const bytes = fh ? null : buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered, size);
    if (target.verifier) {
      if (bytes) await target.verifier.update(bytes);
      await target.verifier.finish();
    }
    ensureDir();
    if (fh) {
      await fh.close();
      fh = undefined;
    } else {
      writeFileSync(tmp, bytes!, { mode: 0o644, flag: 'wx' });
    }
    renameSync(tmp, dest);
    done = true;
    return size;
  } catch (err) {
    if (err instanceof ObjectVerificationError) throw new InvalidInputError(`rejected ${part.filename}: ${err.message}`, 'file');
    throw err;
  } finally {
    if (!done) {
      await fh?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
}

/** Objects up to this size are verified in memory and written in one go. */
const smallObjectBytes = 512 * 1024;

/**
 * A temp file's name says which process writes it (pid@host): a process that was killed mid-upload
 * (kill -9, a crash) leaves its file behind, and a later start can tell it from a live upload.
 */
function tempName(): string {
  return `upload-${process.pid}-${randomBytes(8).toString('hex')}@${os.hostname()}`;
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
