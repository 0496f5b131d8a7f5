// Serves build repos for testing a build before it is published: GET/HEAD
// /build-repo/<id>/<path> (the repo files a flatpak client fetches, plus the build's
// .flatpakref files). A build created with public-download false needs a token with the
// `download` scope (sub build/<id>) that covers the build's repo and app id.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import send from 'send';
import type { Services } from '../services.ts';
import { DomainError } from '../domain/errors.ts';
import { TokenService } from '../domain/tokens/service.ts';
import { cacheControlFor, isServable, safeSegments } from './repo-files.ts';

export const buildRepoPath = '/build-repo';

function fail(res: Response, status: number, errorType: string, message: string): void {
  res.status(status).set('cache-control', 'no-store').json({ status, 'error-type': errorType, message });
}

export function createBuildRepoRouter(services: Services): Router {
  const router = express.Router();
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'generic-error', 'build repos are read-only over HTTP');
      const segments = safeSegments(req.path);
      if (!segments || segments.length < 2 || !/^\d{1,9}$/.test(segments[0]!)) return fail(res, 404, 'not-found', 'Not found');
      const id = Number(segments[0]);
      const rel = segments.slice(1);
      const relPath = rel.join('/');
      const flatpakref = rel.length === 1 && rel[0]!.endsWith('.flatpakref');
      if (!flatpakref && !isServable(rel)) return fail(res, 404, 'not-found', `${relPath} not found`);
      const build = await services.prisma.build.findUnique({ where: { id }, include: { repo: true } });
      if (!build || build.state === 'PURGED') return fail(res, 404, 'not-found', `build ${id} not found`);
      if (!build.publicDownload) {
        try {
          const viewer = await services.tokens.authenticate(TokenService.tokenFromHeader(req.headers.authorization, services.config.tokenPrefix));
          await services.builds.getFor(viewer, id, 'download');
        } catch (err) {
          if (err instanceof DomainError) return fail(res, err.httpStatus, err.errorType, err.message);
          throw err;
        }
      }
      const root = await realpath(services.builds.buildPath(id)).catch(() => null);
      if (!root) return fail(res, 404, 'not-found', `build ${id} has no repo on disk`);
      const file = await realpath(path.join(root, ...rel)).catch(() => null);
      if (!file || !file.startsWith(root + path.sep)) return fail(res, 404, 'not-found', `${relPath} not found`);
      res.set('content-type', flatpakref ? 'application/vnd.flatpak.ref' : 'application/octet-stream');
      res.set('cache-control', build.publicDownload ? cacheControlFor(relPath) : 'no-store');
      const stream = send(req, file, { etag: true, lastModified: true, acceptRanges: true, cacheControl: false, index: false, dotfiles: 'allow' });
      stream.on('directory', () => fail(res, 404, 'not-found', `${relPath} not found`));
      stream.on('error', (err: { status?: number; statusCode?: number }) => {
        if (res.headersSent) return void res.destroy();
        const status = err.status ?? err.statusCode ?? 500;
        if (status === 404) return fail(res, 404, 'not-found', `${relPath} not found`);
        next(err);
      });
      stream.pipe(res);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
