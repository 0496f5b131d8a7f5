// Serves build repos for testing a build before it is published: GET/HEAD
// /build-repo/<id>/<path> (the repo files a flatpak client fetches, plus the build's
// .flatpakref files). A build created with public-download false needs a token with the
// `download` scope (sub build/<id>) that covers the build's repo and app id.
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import send from 'send';
import type { Services } from '../services.ts';
import { cacheControlFor, isServable, safeSegments } from './repo-files.ts';
import { viewerOf } from './auth.ts';
import { sendError } from './errors.ts';

export const buildRepoPath = '/build-repo';

/**
 * A build repo's config names its parent, the main repo, by absolute path on the server
 * (`parent=/...`): clients only need the repo mode, so that line is not served.
 */
export function publicRepoConfig(config: string): string {
  return config
    .split('\n')
    .filter((line) => !/^\s*parent\s*=/.test(line))
    .join('\n');
}

export function createBuildRepoRouter(services: Services): Router {
  const router = express.Router();
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res.set('allow', 'GET, HEAD'), 405, 'generic-error', 'build repos are read-only over HTTP');
      const segments = safeSegments(req.path);
      if (!segments || segments.length < 2 || !/^\d{1,9}$/.test(segments[0]!)) return sendError(res, 404, 'not-found', 'Not found');
      const id = Number(segments[0]);
      const rel = segments.slice(1);
      const relPath = rel.join('/');
      const flatpakref = rel.length === 1 && rel[0]!.endsWith('.flatpakref');
      if (!flatpakref && !isServable(rel)) return sendError(res, 404, 'not-found', `${relPath} not found`);
      const build = await services.builds.getForDownload(id, () => viewerOf(services, req));
      const root = await realpath(services.builds.buildPath(id)).catch(() => null);
      if (!root) return sendError(res, 404, 'not-found', `build ${id} has no repo on disk`);
      const file = await realpath(path.join(root, ...rel)).catch(() => null);
      if (!file || !file.startsWith(root + path.sep)) return sendError(res, 404, 'not-found', `${relPath} not found`);
      res.set('cache-control', build.publicDownload ? cacheControlFor(relPath) : 'no-store');
      if (relPath === 'config') {
        const config = await readFile(file, 'utf8').catch(() => null);
        if (config === null) return sendError(res, 404, 'not-found', `${relPath} not found`);
        res.type('text/plain; charset=utf-8').send(publicRepoConfig(config));
        return;
      }
      res.set('content-type', flatpakref ? 'application/vnd.flatpak.ref' : 'application/octet-stream');
      const stream = send(req, file, { etag: true, lastModified: true, acceptRanges: true, cacheControl: false, index: false, dotfiles: 'allow' });
      stream.on('directory', () => sendError(res, 404, 'not-found', `${relPath} not found`));
      stream.on('error', (err: { status?: number; statusCode?: number }) => {
        if (res.headersSent) return void res.destroy();
        const status = err.status ?? err.statusCode ?? 500;
        if (status === 404) return sendError(res, 404, 'not-found', `${relPath} not found`);
        next(err);
      });
      stream.pipe(res);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
