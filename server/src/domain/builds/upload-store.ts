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

const OBJECT_NAME_RE = /^[0-9a-f]{64}\.(commit|dirtree|dirmeta|filez)$/;

/**
 * Which of `wanted` neither the upload repo nor its parent has. Names that are not object names
 * are refused. The upload repo belongs to one build and stays small, so each of its object
 * directories is listed once (one syscall instead of one per name); the parent, which may hold
 * millions of objects, is asked per name, and only for what the upload repo lacks.
 */
export function missingObjects(uploadRepo: string, parentRepo: string | null, wanted: readonly string[]): string[] {
  const listed = new Map<string, Set<string>>();
  const uploaded = (prefix: string, rest: string) => {
    let names = listed.get(prefix);
    if (!names) {
      try {
        names = new Set(readdirSync(`${uploadRepo}/objects/${prefix}`));
      } catch {
        names = new Set();
      }
      listed.set(prefix, names);
    }
    return names.has(rest);
  };
  const missing: string[] = [];
  for (const name of wanted) {
    if (typeof name !== 'string' || !OBJECT_NAME_RE.test(name)) {
      throw new InvalidInputError(`invalid object name ${JSON.stringify(String(name).slice(0, 100))}`, 'wanted');
    }
    const prefix = name.slice(0, 2);
    const rest = name.slice(2);
    if (uploaded(prefix, rest)) continue;
    if (parentRepo && existsSync(`${parentRepo}/objects/${prefix}/${rest}`)) continue;
    missing.push(name);
  }
  return missing;
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
