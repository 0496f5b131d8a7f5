// The web dashboard, served from `web-dir` at / of fmd's own port: the browser talks to the API
// on the same origin, so no CORS set-up is needed. Vite names the files under assets/ by their
// content (cached for a year); index.html is revalidated on every load. Any other GET for a page
// (a deep link such as /builds/12, asked for as text/html) gets index.html, whose router shows
// it; paths the API owns are left to their routers' not-found answers. /playground is the
// GraphQL playground's page (GraphiQL, its own bundle).
//
// Everything this router serves carries security headers (securityHeaders): a Content-Security-
// Policy that lets the pages load and connect to this origin only, and no framing, sniffing or
// referrers. The API, /repo files and the other routers' answers do not: their clients are not
// browsers rendering pages.
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
  const secure = securityHeaders(config);
  router.use(
    express.static(config.webDir, {
      index: false,
      redirect: false,
      setHeaders(res, file) {
        const immutable = path.relative(config.webDir, file).startsWith(`assets${path.sep}`);
        res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
        secure(res.req, res);
      },
    }),
  );
  router.get('/playground', (req, res) => {
    secure(req, res);
    sendPage(res, playground);
  });
  router.get('/{*path}', (req, res, next) => {
    if (apiPrefixes.some((p) => req.path === p || req.path.startsWith(`${p}/`))) return next();
    if (!asksForPage(req) || path.extname(req.path)) return next();
    secure(req, res);
    sendPage(res, index);
  });
  return router;
}

/** A Host header fit to name in a policy (no spaces, semicolons or quotes to inject directives with). */
const hostLike = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The web pages' security headers. The dashboard's and GraphiQL's bundles need nothing but this
 * origin: no inline scripts or styles (Vite emits files; GraphiQL and uPlot style elements
 * through the CSSOM, which style-src does not govern), no eval, no workers. connect-src names
 * the WebSocket URLs of this host besides 'self' (browsers before CSP 3 do not count ws: as
 * 'self'): `base-url`'s host when set, else the Host the request came with; and the other fmd
 * servers the dashboard may sign in to, `web-connect-origins`.
 */
export function securityHeaders(config: Pick<FmdConfig, 'baseUrl' | 'webConnectOrigins'>): (req: Request, res: Response) => void {
  const fixedHost = config.baseUrl ? new URL(config.baseUrl).host : undefined;
  // Other fmd servers the dashboard may sign in to (`web-connect-origins`): HTTP and WebSocket.
  const others = config.webConnectOrigins.flatMap((o) => [o, o.replace(/^http/, 'ws')]).join(' ');
  const policy = (host: string | undefined) =>
    [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "font-src 'self' data:",
      `connect-src 'self'${host && hostLike.test(host) ? ` ws://${host} wss://${host}` : ''}${others ? ` ${others}` : ''}`,
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; ');
  const fixed = fixedHost ? policy(fixedHost) : undefined;
  return (req, res) => {
    res.setHeader('content-security-policy', fixed ?? policy(req.get('host')));
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=()');
  };
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
