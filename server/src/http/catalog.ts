// The app catalog's files: GET /api/catalog/<repo>/icons/<app id>.png, the app's icon from the
// repo's appstream data. Like GraphQL `app`, it needs a token that may see the repo and the app
// id; an unknown or invisible repo or app, or an app without an icon, is 404.
import express, { type Router } from 'express';
import type { Services } from '../services.ts';
import { viewerOf } from './auth.ts';
import { sendError } from './errors.ts';
import { InvalidInputError } from '../domain/errors.ts';

export const catalogPath = '/api/catalog';

export function createCatalogRouter(services: Services): Router {
  const router = express.Router();
  router.get('/:repo/icons/:file', async (req, res, next) => {
    try {
      const viewer = await viewerOf(services, req);
      const m = /^(.{1,255})\.png$/.exec(req.params.file);
      // A malformed repo name or app id names nothing: 404, as an unknown one.
      const icon = m ? await services.catalog.icon(viewer, req.params.repo, m[1]!).catch((err) => (err instanceof InvalidInputError ? null : Promise.reject(err))) : null;
      if (!icon) return sendError(res, 404, 'not-found', 'icon not found');
      // Per token: a shared cache must not hand it to another.
      res.set({ 'content-type': 'image/png', 'cache-control': 'private, max-age=300', 'x-content-type-options': 'nosniff' });
      res.send(icon);
    } catch (err) {
      next(err);
    }
  });
  router.use((req, res) => sendError(res, 404, 'not-found', `${req.method} ${req.baseUrl}${req.path} not found`));
  return router;
}
