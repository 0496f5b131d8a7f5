// The web dashboard, served from `web-dir` at / of fmd's own port: the browser talks to the API
// on the same origin, so no CORS set-up is needed. Vite names the files under assets/ by their
// content (cached for a year); index.html is revalidated on every load. Any other GET for a page
// (a deep link such as /builds/12, asked for as text/html) gets index.html, whose router shows
// it; paths the API owns are left to their routers' not-found answers. /playground is the
// GraphQL playground's page (GraphiQL, its own bundle).
import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import type { FmdConfig } from '../config/index.ts';
import { graphqlPath } from './graphql.ts';

/** `apiPrefixes`: the paths the API's routers own; the dashboard never answers under them, even for text/html. */
export function createWebRouter(config: FmdConfig, apiPrefixes: readonly string[]): Router {
  const router = Router();
  const index = path.join(config.webDir, 'index.html');
  const playground = path.join(config.webDir, 'playground.html');
  router.use(
    express.static(config.webDir, {
      index: false,
      redirect: false,
      setHeaders(res, file) {
        const immutable = path.relative(config.webDir, file).startsWith(`assets${path.sep}`);
        res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    }),
  );
  router.get('/playground', (_req, res) => sendPage(res, playground));
  router.get('/{*path}', (req, res, next) => {
    if (apiPrefixes.some((p) => req.path === p || req.path.startsWith(`${p}/`))) return next();
    if (!asksForPage(req) || path.extname(req.path)) return next();
    sendPage(res, index);
  });
  return router;
}

/**
 * A browser opening /graphql itself (a page request without a query) is sent to the playground;
 * GraphQL requests, GET ones included, go on to the endpoint.
 */
export const playgroundRedirect: RequestHandler = (req, res, next) => {
  if (asksForPage(req) && req.query.query === undefined) res.redirect(302, '/playground');
  else next();
};

/** Browsers navigating ask for text/html by name; API clients' wildcard Accept keeps their own answers. */
function asksForPage(req: Request): boolean {
  return /\btext\/html\b/.test(req.get('accept') ?? '');
}

function sendPage(res: Response, file: string): void {
  if (!existsSync(file)) {
    res
      .status(503)
      .type('text/plain')
      .send(`The web dashboard is not built (no ${file}). Build it with: npm run -w @fmd/web build   (npm start builds it when needed)\n`);
    return;
  }
  res.setHeader('cache-control', 'no-cache');
  res.sendFile(file);
}
