// Serves repos to flatpak/ostree clients: GET/HEAD /repo/<name>/<path> and the generated
// /repo/<name>.flatpakrepo. Files are streamed with Range, ETag, Last-Modified and
// conditional requests, from one open file descriptor (see sendFile). Only the paths a client needs are served; dot-segments, traversal
// and symlinks that leave the repo are refused, and the summary staging dir is never visible.
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream';
import express, { type Request, type Response, type NextFunction, type Router } from 'express';
import type { Services } from '../services.ts';
import { REPO_NAME_RE } from '../domain/repos/validate.ts';
import { tokenOf } from './auth.ts';
import { sendError } from './errors.ts';

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** summary*, config, signatures: they change on every summary update. */
const SHORT = 'public, max-age=30';
const MEDIUM = 'public, max-age=300';

/**
 * Top-level files and directories of an archive repo that clients fetch, plus what publish puts
 * beside them: `appstream/` (the apps' .flatpakref files) and `media/` (screenshots).
 */
const SERVED_FILES = new Set(['config', 'summary', 'summary.sig', 'summary.idx', 'summary.idx.sig']);
const SERVED_DIRS = new Set(['objects', 'deltas', 'summaries', 'delta-indexes', 'refs', 'appstream', 'media']);

/** Cache-Control for a servable relative path. */
export function cacheControlFor(rel: string): string {
  if (rel.startsWith('objects/')) {
    // .commitmeta gains signatures (key rotation); every other object is named by its content.
    return rel.endsWith('.commitmeta') ? MEDIUM : IMMUTABLE;
  }
  if (rel.startsWith('deltas/')) {
    // The superblock embeds the commit's signatures and is remade when they change.
    return rel.endsWith('/superblock') ? MEDIUM : IMMUTABLE;
  }
  if (rel.startsWith('summaries/')) {
    // Sub-summaries and summary deltas are named by their content; the index signature may be remade.
    return rel.endsWith('.idx.sig') ? MEDIUM : IMMUTABLE;
  }
  return SHORT;
}

function contentTypeFor(rel: string): string {
  if (rel === 'config') return 'text/plain; charset=utf-8';
  // Browsers hand a .flatpakref to the software installer by this type.
  if (rel.endsWith('.flatpakref')) return 'application/vnd.flatpak.ref';
  return 'application/octet-stream';
}

/**
 * Splits and decodes `/a/b/c` into checked segments, or null when any segment is empty,
 * starts with a dot (`.`, `..`, `.fmd-staging`, temp files), or hides a slash, backslash or NUL.
 */
export function safeSegments(rawPath: string): string[] | null {
  const parts = rawPath.replace(/^\//, '').split('/');
  const out: string[] = [];
  for (const p of parts) {
    let d: string;
    try {
      d = decodeURIComponent(p);
    } catch {
      return null;
    }
    if (!d || d.startsWith('.') || /[/\\\0]/.test(d)) return null;
    out.push(d);
  }
  return out;
}

export function isServable(segments: string[]): boolean {
  if (segments.length === 0) return false;
  if (segments.length === 1) return SERVED_FILES.has(segments[0]!);
  return SERVED_DIRS.has(segments[0]!);
}

function notFound(res: Response, what: string): void {
  sendError(res, 404, 'not-found', `${what} not found`);
}

/**
 * Streams one file. Everything comes from a single open descriptor: `send` stats by path and
 * opens again, so a summary.idx renamed over in between came out as the new file's bytes cut
 * to the old file's length (a torn read that matches no signature). Files in a repo are only
 * ever replaced by rename, so an open descriptor always reads one whole version.
 */
async function sendFile(req: Request, res: Response, file: string, relPath: string): Promise<boolean> {
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return (notFound(res, relPath), false);
  let streaming = false;
  try {
    const st = await fh.stat();
    if (!st.isFile()) return (notFound(res, relPath), false);
    const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    res.set({ etag, 'last-modified': st.mtime.toUTCString(), 'accept-ranges': 'bytes' });
    // req.fresh compares If-None-Match / If-Modified-Since with the headers set above.
    if (req.fresh) {
      res.status(304).end();
      return false;
    }
    let start = 0;
    let end = st.size - 1;
    const ifRange = String(req.headers['if-range'] ?? '');
    const rangeApplies = req.headers.range && (!ifRange || ifRange === etag || (!ifRange.includes('"') && Date.parse(ifRange) >= Math.floor(st.mtimeMs / 1000) * 1000));
    if (rangeApplies) {
      const ranges = req.range(st.size, { combine: true });
      if (ranges === -1) {
        res.status(416).set({ 'content-range': `bytes */${st.size}`, 'cache-control': 'no-store' });
        res.removeHeader('content-type');
        res.end();
        return false;
      }
      // Several ranges would need multipart/byteranges; clients fetch one at a time, so send all.
      if (Array.isArray(ranges) && ranges.length === 1) {
        start = ranges[0]!.start;
        end = ranges[0]!.end;
        res.status(206).set('content-range', `bytes ${start}-${end}/${st.size}`);
      }
    }
    res.set('content-length', String(st.size === 0 ? 0 : end - start + 1));
    if (req.method === 'HEAD' || st.size === 0) {
      res.end();
      return false;
    }
    if (res.destroyed) return false; // the client left while the file was being opened
    const stream = fh.createReadStream({ start, end, autoClose: true });
    streaming = true;
    // pipeline destroys the file stream (closing the descriptor) when the client goes away mid-file.
    pipeline(stream, res, () => void fh.close().catch(() => undefined));
    // A body from the first byte on: what a download is counted by (a resumed range is not one).
    return start === 0;
  } finally {
    if (!streaming) await fh.close();
  }
}

export function createRepoFilesRouter(services: Services): Router {
  const router = express.Router();
  const roots = new Map<string, string>();

  async function rootOf(name: string): Promise<string | null> {
    const hit = roots.get(name);
    if (hit) return hit;
    const real = await realpath(services.repos.repoPath(name)).catch(() => null);
    if (real) roots.set(name, real);
    return real;
  }

  async function flatpakrepo(req: Request, res: Response, name: string): Promise<void> {
    const repo = REPO_NAME_RE.test(name) ? await services.repos.servedRepo(name) : null;
    if (!repo) return notFound(res, `repo ${name}`);
    const here = services.repos.configuredRepoUrl(name) ?? `${req.protocol}://${req.get('host')}/repo/${name}/`;
    const body = await services.repos.flatpakrepo(repo, here);
    res.set({ 'content-type': 'application/vnd.flatpak.repo', 'cache-control': MEDIUM });
    res.send(body);
  }

  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return sendError(res.set('allow', 'GET, HEAD'), 405, 'generic-error', 'repos are read-only over HTTP');
      }
      const segments = safeSegments(req.path);
      if (!segments) return notFound(res, 'file');
      const first = segments[0]!;
      if (segments.length === 1 && first.endsWith('.flatpakrepo')) return await flatpakrepo(req, res, first.slice(0, -'.flatpakrepo'.length));
      if (!REPO_NAME_RE.test(first)) return notFound(res, 'repo');
      const rel = segments.slice(1);
      const relPath = rel.join('/');
      if (!isServable(rel)) return notFound(res, relPath || 'file');
      const repo = await services.repos.servedRepo(first);
      if (!repo) return notFound(res, `repo ${first}`);

      const access = await services.repos.authorizeDownload(repo, relPath, () => tokenOf(req, services.config.tokenPrefix));

      const root = await rootOf(first);
      if (!root) return notFound(res, `repo ${first}`);
      const file = await realpath(path.join(root, ...rel)).catch(() => null);
      // A symlink (or anything else) that resolves outside the repo is not served.
      if (!file || !file.startsWith(root + path.sep)) return notFound(res, relPath);

      res.set('content-type', contentTypeFor(relPath));
      res.set('cache-control', access.private ? 'no-store' : cacheControlFor(relPath));
      if (await sendFile(req, res, file, relPath)) {
        services.downloadStats.record(first, relPath, req.get('flatpak-upgrade-from'));
      }
    } catch (err) {
      next(err);
    }
  });
  return router;
}
