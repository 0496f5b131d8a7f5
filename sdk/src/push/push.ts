// pushRepo: uploads the commits of a local OSTree repo into a flat-manager (or fmd) build, with
// flat-manager-client's protocol and choices (which refs, which objects, which deltas, what it
// sends to build_ref), but several upload requests in flight at once and retries that resume.
//
// Order matters for resuming: file objects go first, then dirtrees and dirmetas, then commits.
// So a stored commit always has its whole tree stored, and after any failure asking
// missing_objects again tells exactly what is left to send: nothing stored is sent twice.
import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { deltasToUpload, isArchiveMode, localNeededFiles, localNeededMetadata, objectPath, readRefs, readRepoMode, resolveRev } from '../ostree/repo.ts';
import { FlatManagerError, FlatManagerRestClient, parseBuildUrl } from './rest.ts';

/** Why a push could not start or finish (besides the server's own errors, which are FlatManagerError). */
export type PushErrorKind = 'repo-not-found' | 'ref-not-found' | 'no-refs' | 'repo-incomplete' | 'convert-failed';

export class PushError extends Error {
  readonly kind: PushErrorKind;
  constructor(message: string, kind: PushErrorKind, cause?: unknown) {
    super(message, { cause });
    this.name = 'PushError';
    this.kind = kind;
  }
}

export type PushPhase = 'scanning' | 'checking' | 'uploading' | 'deltas' | 'refs' | 'done';

export type PushProgress = {
  phase: PushPhase;
  /** objects (and delta parts) sent and accepted, of those the server lacked */
  objectsDone: number;
  objectsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** upload rate since the upload began (bytes per second; 0 before) */
  bytesPerSecond: number;
  elapsedMs: number;
};

export type PushOptions = {
  /** `<server>/api/v1/build/<id>` (what `fmdc create` / `flat-manager-client create` print) */
  buildUrl: string;
  token: string;
  /** the local OSTree repo; archive mode is sent as it is, a bare repo through a temporary archive copy */
  repo: string;
  /** refs (or `remote:ref`, or commit checksums) to push; default: every app/, runtime/ and screenshots/ ref, as flat-manager-client does */
  refs?: readonly string[];
  /** globs of app ids whose static deltas are not uploaded (flat-manager-client's --ignore-delta) */
  ignoreDelta?: readonly string[];
  /** collection ids added to the build after the refs (--extra-id) */
  extraIds?: readonly string[];
  /** sent with every build_ref (--build-log-url) */
  buildLogUrl?: string;
  /** upload with a one-hour token limited to this build and the upload scope, minted from `token` (--minimal-token) */
  minimalToken?: boolean;
  /** upload requests in flight at once (default 6) */
  concurrency?: number;
  /** about this many bytes of objects per upload request (default 4 MiB, as flat-manager-client); a larger object goes alone */
  batchBytes?: number;
  /** attempts per request on network errors and 5xx (default 6), with growing waits from `retryDelayMs` (default 500) */
  attempts?: number;
  retryDelayMs?: number;
  onProgress?: (p: PushProgress) => void;
  /** human-readable steps ("Remote missing 12 of 40 metadata objects") */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  /** a client to reuse (its token is not used: `token` is) */
  client?: FlatManagerRestClient;
};

export type PushResult = {
  buildUrl: string;
  buildId: number;
  /** what was pushed: ref -> commit */
  refs: Record<string, string>;
  objects: { metadata: number; files: number; missing: number; uploaded: number };
  bytesUploaded: number;
  deltaParts: string[];
  requests: { missingObjects: number; upload: number; failed: number };
  /** upload requests that were repeated after a network error or 5xx */
  retries: number;
  durationMs: number;
  /** the source was a bare repo, read through a temporary archive copy */
  converted: boolean;
};

/** Names per missing_objects request: flat-manager-client's 2000, several requests in flight. */
const MISSING_CHUNK = 2000;
/** Objects per upload request at most (many tiny files make a long multipart body to parse). */
const MAX_OBJECTS_PER_REQUEST = 4000;
/** Files up to this size are read whole ahead of sending; larger ones are streamed. */
const PREFETCH_MAX = 1024 * 1024;

type Obj = { name: string; path: string; size: number };

const PUSHED_PREFIXES = ['app/', 'runtime/', 'screenshots/'];

export async function pushRepo(o: PushOptions): Promise<PushResult> {
  const started = Date.now();
  const location = parseBuildUrl(o.buildUrl);
  const log = o.onLog ?? (() => undefined);
  const concurrency = Math.max(1, o.concurrency ?? 6);
  const client = o.client ?? new FlatManagerRestClient({ token: o.token, maxSockets: concurrency + 2 });
  const ownClient = !o.client;
  const stats = { missingObjects: 0, upload: 0, failed: 0, retries: 0 };

  const repoPath = path.resolve(o.repo);
  if (!existsSync(path.join(repoPath, 'config')) || !existsSync(path.join(repoPath, 'objects'))) {
    throw new PushError(`no OSTree repo at ${repoPath} (no config file and objects/ directory there)`, 'repo-not-found');
  }

  // Refs first: a typo fails before anything is sent.
  const refs: Record<string, string> = {};
  if (o.refs?.length) {
    for (const rev of o.refs) {
      const commit = await resolveRev(repoPath, rev);
      if (!commit) {
        const known = (await readRefs(repoPath)).map((r) => r.ref);
        throw new PushError(`ref ${rev} not found in ${repoPath}${known.length ? ` (it has: ${known.join(', ')})` : ' (it has no refs)'}`, 'ref-not-found');
      }
      refs[rev] = commit;
    }
  } else {
    for (const { ref, commit } of await readRefs(repoPath)) if (PUSHED_PREFIXES.some((p) => ref.startsWith(p))) refs[ref] = commit;
    if (!Object.keys(refs).length) throw new PushError(`${repoPath} has no app/, runtime/ or screenshots/ refs to push; name the refs to push`, 'no-refs');
  }

  let tempRepo: string | undefined;
  try {
    // The build must exist and the token must open it, before any work.
    await client.getBuild(location.buildUrl, o.token);
    const token = o.minimalToken
      ? await client.createToken(location.apiUrl, { name: 'minimal-upload', sub: `build/${location.buildId}`, scope: ['upload'], duration: 60 * 60 })
      : o.token;

    let source = repoPath;
    const mode = await readRepoMode(repoPath);
    if (!isArchiveMode(mode)) {
      log(`${repoPath} is a ${mode} repo: copying the commits into a temporary archive repo (ostree pull-local) to send compressed objects`);
      tempRepo = await mkdtemp(path.join(tmpdir(), 'fmd-push-'));
      await toArchive(repoPath, tempRepo, [...new Set(Object.values(refs))]);
      source = tempRepo;
    }

    log(`Uploading refs to ${location.buildUrl}: ${Object.keys(refs).join(', ')}`);
    let phase: PushPhase = 'scanning';
    const progress = { objectsDone: 0, objectsTotal: 0, bytesDone: 0, bytesTotal: 0, uploadStart: 0 };
    const report = () =>
      o.onProgress?.({
        phase,
        objectsDone: progress.objectsDone,
        objectsTotal: progress.objectsTotal,
        bytesDone: progress.bytesDone,
        bytesTotal: progress.bytesTotal,
        bytesPerSecond: progress.uploadStart ? (progress.bytesDone * 1000) / Math.max(1, Date.now() - progress.uploadStart) : 0,
        elapsedMs: Date.now() - started,
      });
    report();

    /** A missing local object as what it means. */
    const incomplete = (err: NodeJS.ErrnoException): never => {
      if (err.code !== 'ENOENT') throw err;
      throw new PushError(`${repoPath} lacks an object its commits need (${path.basename(path.dirname(err.path ?? ''))}${path.basename(err.path ?? '')}): the repo is incomplete`, 'repo-incomplete', err);
    };
    const missing = async (names: readonly string[]): Promise<string[]> => {
      const chunks: string[][] = [];
      for (let i = 0; i < names.length; i += MISSING_CHUNK) chunks.push(names.slice(i, i + MISSING_CHUNK));
      const answers = await pool(chunks, concurrency, async (chunk) => {
        stats.missingObjects++;
        return withRetries(() => client.missingObjects(location.buildUrl, chunk, token), o, stats);
      });
      return answers.flat();
    };

    const [metadata, files] = await (async () => {
      const m = await localNeededMetadata(source, Object.values(refs));
      return [m, await localNeededFiles(source, m)] as const;
    })().catch(incomplete);
    log(`Refs contain ${metadata.length} metadata and ${files.length} file objects`);
    phase = 'checking';
    report();
    const [missingMetadata, missingFiles] = await Promise.all([missing(metadata), missing(files)]);
    log(`Remote missing ${missingMetadata.length} metadata and ${missingFiles.length} file objects`);

    const sized = async (names: string[]): Promise<Obj[]> =>
      pool(names, 64, async (name) => {
        const p = objectPath(source, name);
        return { name, path: p, size: (await stat(p)).size };
      });
    const rank = (name: string) => (name.endsWith('.commit') ? 1 : 0);
    // Files, then trees, then commits (see the top of this file).
    const stages = await Promise.all([sized(missingFiles), sized(missingMetadata.filter((n) => rank(n) === 0)), sized(missingMetadata.filter((n) => rank(n) === 1))]).catch(incomplete);
    const deltaFiles = await pool(await deltasToUpload(repoPath, refs, o.ignoreDelta ?? []), 64, async (f) => ({ ...f, size: (await stat(f.path)).size }));
    for (const s of [...stages, deltaFiles]) for (const obj of s) {
      progress.objectsTotal++;
      progress.bytesTotal += obj.size;
    }

    const abort = new AbortController();
    const signal = o.signal ? AbortSignal.any([o.signal, abort.signal]) : abort.signal;
    const upload = async (batch: Obj[], what: string) => {
      let left = batch;
      for (let attempt = 1; ; attempt++) {
        signal.throwIfAborted();
        const counted = { objects: 0, bytes: 0 };
        try {
          stats.upload++;
          await uploadRequest(client, location.buildUrl, token, left, signal, (obj) => {
            counted.objects++;
            counted.bytes += obj.size;
            progress.objectsDone++;
            progress.bytesDone += obj.size;
            report();
          });
          return;
        } catch (err) {
          stats.failed++;
          progress.objectsDone -= counted.objects;
          progress.bytesDone -= counted.bytes;
          const transient = err instanceof FlatManagerError && err.transient && !signal.aborted;
          if (!transient || attempt >= (o.attempts ?? 6)) {
            // Stop the other requests in flight: the push has failed.
            if (!signal.aborted) abort.abort(err);
            throw err;
          }
          stats.retries++;
          log(`${what}: ${(err as Error).message}; retrying (attempt ${attempt + 1})`);
          await sleep(retryDelay(o, attempt), signal);
          // Resume: whatever the failed request got stored is not sent again. Deltas are not objects: resent whole.
          if (what !== 'deltas') {
            const still = new Set(await missing(left.map((x) => x.name)));
            for (const obj of left) if (!still.has(obj.name)) {
              progress.objectsDone++;
              progress.bytesDone += obj.size;
            }
            left = left.filter((x) => still.has(x.name));
            report();
            if (!left.length) return;
          }
        }
      }
    };

    phase = 'uploading';
    progress.uploadStart = Date.now();
    report();
    try {
      for (const stage of stages) await pool(batches(stage, o.batchBytes ?? 4 * 1024 * 1024), concurrency, (b) => upload(b, 'upload'));
      if (deltaFiles.length) {
        phase = 'deltas';
        log(`Uploading ${deltaFiles.length} static delta parts`);
        await upload(deltaFiles, 'deltas');
      }
    } catch (err) {
      if (!signal.aborted) abort.abort(err);
      throw err;
    }

    phase = 'refs';
    report();
    for (const [ref, commit] of Object.entries(refs)) {
      log(`Creating ref ${ref} with commit ${commit}`);
      await withRetries(() => client.createRef(location.buildUrl, ref, commit, { buildLogUrl: o.buildLogUrl ?? null, token }), o, stats);
    }
    if (o.extraIds?.length) {
      log(`Adding extra ids ${o.extraIds.join(', ')}`);
      await withRetries(() => client.addExtraIds(location.buildUrl, o.extraIds!, token), o, stats);
    }
    phase = 'done';
    report();
    return {
      buildUrl: location.buildUrl,
      buildId: location.buildId,
      refs,
      objects: { metadata: metadata.length, files: files.length, missing: missingMetadata.length + missingFiles.length, uploaded: progress.objectsDone - deltaFiles.length },
      bytesUploaded: progress.bytesDone,
      deltaParts: deltaFiles.map((f) => f.name),
      requests: { missingObjects: stats.missingObjects, upload: stats.upload, failed: stats.failed },
      retries: stats.retries,
      durationMs: Date.now() - started,
      converted: tempRepo !== undefined,
    };
  } finally {
    if (tempRepo) await rm(tempRepo, { recursive: true, force: true });
    if (ownClient) client.close();
  }
}

/** Requests of about `limit` bytes (at most MAX_OBJECTS_PER_REQUEST objects); an object larger than that goes alone. */
function batches(objs: Obj[], limit: number): Obj[][] {
  const out: Obj[][] = [];
  let cur: Obj[] = [];
  let size = 0;
  for (const obj of objs) {
    if (cur.length && (size + obj.size > limit || cur.length >= MAX_OBJECTS_PER_REQUEST)) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(obj);
    size += obj.size;
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * One upload request: multipart/mixed with one `attachment` part per object and its own
 * Content-Length, as flat-manager-client sends. Small files are read ahead all at once, so the
 * disk works while the network sends; `sent` is called as each object's bytes are written.
 */
async function uploadRequest(client: FlatManagerRestClient, buildUrl: string, token: string, objs: Obj[], signal: AbortSignal, sent: (obj: Obj) => void): Promise<void> {
  const boundary = `fmd-${randomBytes(16).toString('hex')}`;
  const heads = objs.map((f) =>
    Buffer.from(`--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${f.name}"\r\nContent-Length: ${f.size}\r\n\r\n`),
  );
  const crlf = Buffer.from('\r\n');
  const tail = Buffer.from(`--${boundary}--\r\n`);
  const length = heads.reduce((n, h, i) => n + h.length + objs[i]!.size + crlf.length, 0) + tail.length;
  const contents = objs.map((f) => (f.size <= PREFETCH_MAX ? readFile(f.path) : null));
  // Read errors surface where the content is written; until then they must not go unhandled.
  for (const c of contents) c?.catch(() => undefined);
  const write = async (req: http.ClientRequest) => {
    const put = async (chunk: Buffer) => {
      if (!req.write(chunk)) await drained(req);
    };
    for (const [i, obj] of objs.entries()) {
      const content = contents[i];
      if (content) {
        const bytes = await content;
        if (bytes.length !== obj.size) throw new Error(`${obj.path} changed while it was being pushed`);
        // One write (writev) for the part's head, content and CRLF: for small objects a
        // syscall per piece costs more than the piece.
        req.cork();
        req.write(heads[i]!);
        req.write(bytes);
        const more = req.write(crlf);
        req.uncork();
        if (!more) await drained(req);
      } else {
        await put(heads[i]!);
        let n = 0;
        for await (const chunk of createReadStream(obj.path, { highWaterMark: 1024 * 1024 })) {
          n += (chunk as Buffer).length;
          await put(chunk as Buffer);
        }
        if (n !== obj.size) throw new Error(`${obj.path} changed while it was being pushed`);
        await put(crlf);
      }
      sent(obj);
    }
    await put(tail);
  };
  const r = await client.request('POST', `${buildUrl}/upload`, {
    token,
    headers: { 'content-type': `multipart/mixed; boundary=${boundary}` },
    length,
    write,
    signal,
  });
  client.check(r, 'upload', `${buildUrl}/upload`);
}

function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      if (req.destroyed && !req.writableFinished) reject(new Error('the upload request was closed'));
      else resolve();
    };
    req.once('drain', done);
    req.once('close', done);
  });
}

/** Runs `fn` on every item with at most `limit` at once; results in item order. The first failure stops new items and is thrown. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  // The first failure in time is the cause; later ones are usually the others being stopped.
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
  return out;
}

/** A small idempotent request, repeated on network errors and 5xx. */
async function withRetries<T>(fn: () => Promise<T>, o: PushOptions, stats: { retries: number }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof FlatManagerError) || !err.transient || attempt >= (o.attempts ?? 6)) throw err;
      stats.retries++;
      await sleep(retryDelay(o, attempt), o.signal);
    }
  }
}

const retryDelay = (o: PushOptions, attempt: number) => Math.min(10_000, (o.retryDelayMs ?? 500) * 2 ** (attempt - 1));

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });
}

/** Copies commits of a bare repo into a new archive repo with the `ostree` tool. */
async function toArchive(src: string, dest: string, commits: string[]): Promise<void> {
  const run = (args: string[]) =>
    new Promise<void>((resolve, reject) =>
      execFile('ostree', args, { maxBuffer: 16 * 1024 * 1024 }, (err, _out, stderr) =>
        err
          ? reject(
              (err as NodeJS.ErrnoException).code === 'ENOENT'
                ? new PushError(`${src} is not an archive repo, and reading it needs the ostree tool, which is not installed (apt-get install ostree), or push an archive-mode repo`, 'convert-failed', err)
                : new PushError(`ostree ${args[0]} failed: ${String(stderr).trim() || err.message}`, 'convert-failed', err),
            )
          : resolve(),
      ),
    );
  await run(['init', `--repo=${dest}`, '--mode=archive']);
  await run(['pull-local', `--repo=${dest}`, src, ...commits]);
}
