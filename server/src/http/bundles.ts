// Serves the .flatpak bundles BundleService made: GET/HEAD /bundles/<id>/<app-id>.flatpak, with
// ETag/Last-Modified and conditional requests, one byte range (206; several ranges, or a range
// that is malformed or unsatisfiable, are 416 as RFC 9110 allows; a unit other than bytes is
// ignored), and Content-Disposition naming the file. Access is that of what the bundle holds (the
// build's /build-repo rule, the published ref's /repo rule); unknown, unready or not yours: 404.
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Services } from '../services.ts';
import { AuthenticationError, NotFoundError } from '../domain/errors.ts';
import { BundleService } from '../domain/bundles/service.ts';
import { tokenOf, viewerOf } from './auth.ts';
import { sendError } from './errors.ts';

export const bundlesPath = '/bundles';

export function createBundlesRouter(services: Services): Router {
  const router = express.Router();
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res.set('allow', 'GET, HEAD'), 405, 'generic-error', 'bundles are read-only over HTTP');
      const m = /^\/([1-9]\d{0,9})\/([^/]+)$/.exec(req.path);
      if (!m) return sendError(res, 404, 'not-found', 'Not found');
      const id = Number(m[1]);
      const asker = {
        viewer: () => viewerOf(services, req),
        downloadViewer: () => services.repos.downloadViewerOf(tokenOf(req, services.config.tokenPrefix)),
      };
      let found;
      try {
        found = await services.bundles.forDownload(id, asker);
      } catch (err) {
        // Without a token a private bundle is as unknown as a missing one.
        if (err instanceof AuthenticationError && err.reason === 'missing') throw new NotFoundError('bundle', String(id));
        throw err;
      }
      const name = BundleService.fileName(found.bundle);
      if (decodeURIComponent(m[2]!) !== name) return sendError(res, 404, 'not-found', `bundle ${id} is ${name}`);
      await sendBundle(req, res, found.file, name, found.private);
    } catch (err) {
      next(err);
    }
  });
  return router;
}

async function sendBundle(req: Request, res: Response, file: string, name: string, priv: boolean): Promise<void> {
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return sendError(res, 404, 'not-found', `${name} is not on disk any more: request the bundle again`);
  let streaming = false;
  try {
    const st = await fh.stat();
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    res.set({
      etag,
      'last-modified': st.mtime.toUTCString(),
      'accept-ranges': 'bytes',
      'content-type': 'application/vnd.flatpak',
      'content-disposition': `attachment; filename="${name}"`,
      'cache-control': priv ? 'private, no-store' : 'public, max-age=3600',
    });
    if (req.fresh) {
      res.status(304).end();
      return;
    }
    let start = 0;
    let end = st.size - 1;
    const header = req.headers.range;
    const ifRange = String(req.headers['if-range'] ?? '');
    // If-Range: the range only while the file is the one the client has (strong ETag or date).
    const rangeApplies = header && (!ifRange || ifRange === etag || (!ifRange.includes('"') && Date.parse(ifRange) >= Math.floor(st.mtimeMs / 1000) * 1000));
    if (rangeApplies && /^\s*bytes\s*=/i.test(header)) {
      const ranges = req.range(st.size, { combine: true });
      if (ranges === -1 || ranges === -2 || ranges === undefined || ranges.length !== 1) {
        res.status(416).set({ 'content-range': `bytes */${st.size}` });
        res.removeHeader('content-disposition');
        sendError(res, 416, 'invalid-range', ranges !== -1 && ranges !== -2 && ranges !== undefined ? 'one byte range at a time' : `no satisfiable byte range in ${JSON.stringify(header)} (size ${st.size})`);
        return;
      }
      start = ranges[0]!.start;
      end = ranges[0]!.end;
      res.status(206).set('content-range', `bytes ${start}-${end}/${st.size}`);
    }
    res.set('content-length', String(st.size === 0 ? 0 : end - start + 1));
    if (req.method === 'HEAD' || st.size === 0 || res.destroyed) {
      res.end();
      return;
    }
    streaming = true;
    pipeline(fh.createReadStream({ start, end, autoClose: true }), res, () => void fh.close().catch(() => undefined));
  } finally {
    if (!streaming) await fh.close();
  }
}
