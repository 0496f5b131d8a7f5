// The audit log of REST writes: every request other than GET/HEAD/OPTIONS under the mounted API
// prefixes (flat-manager's /api/v1, its git push hooks, the job dashboard's actions) is recorded
// when its response ends: the method and route pattern (`POST /api/v1/build/:id/commit`, never
// the raw URL), the identifiers in its path parameters, the token that authenticated (auth.ts
// notes it), and the status code. Recording never fails or delays the response.
import type { Request, RequestHandler } from 'express';
import type { Services } from '../services.ts';
import { requestIdOf } from './request-id.ts';
import { authenticatedViewerOf } from './auth.ts';
import { targetOf as inputTargetOf } from '../domain/audit/service.ts';

const reads = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Path parameter names and what a target calls them. */
const paramNames: Record<string, string> = { id: 'build', source: 'gitSource', repo: 'repo', ref_id: 'ref' };

export function restAudit(services: Services, prefix: string): RequestHandler {
  return (req, res, next) => {
    if (reads.has(req.method)) return next();
    // The route that answers sets req.route inside its router, where req.baseUrl is its mount
    // path; both are caught when set, since a router puts baseUrl back when it is left.
    let matched: { path: string; baseUrl: string; params: Record<string, string> } | null = null;
    let route: unknown;
    Object.defineProperty(req, 'route', {
      configurable: true,
      enumerable: true,
      get: () => route,
      set: (v: { path?: unknown } | undefined) => {
        route = v;
        if (v && typeof v.path === 'string') matched = { path: v.path, baseUrl: req.baseUrl, params: { ...(req.params as Record<string, string>) } };
      },
    });
    res.on('close', () => {
      const m = matched as typeof matched;
      const pattern = m ? `${m.baseUrl}${m.path}` : `${prefix}${req.path === '/' ? '' : '/…'}`;
      void services.audit.record({
        transport: 'rest',
        action: `${req.method} ${pattern}`,
        viewer: authenticatedViewerOf(req),
        target: targetOf(req, m?.path ?? null, m?.params ?? {}, res.getHeader('location')),
        result: res.writableFinished ? String(res.statusCode) : 'aborted',
        requestId: requestIdOf(req),
        clientIp: req.ip ?? null,
      });
    });
    next();
  };
}

function targetOf(req: Request, routePath: string | null, params: Record<string, string>, location: unknown): string | null {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    // /job/:id is a job, not a build
    const called = name === 'id' && routePath?.startsWith('/job/') ? 'job' : (paramNames[name] ?? name);
    parts.push(`${called}=${String(value).slice(0, 64)}`);
  }
  // a create answers where the new thing is: /api/v1/build/12, /api/v1/build-set/3
  if (typeof location === 'string' && !parts.length) {
    const created = /\/(build|build-set)\/(\d+)$/.exec(location);
    if (created) parts.push(`${created[1] === 'build' ? 'build' : 'buildSet'}=${created[2]}`);
  }
  // what a JSON body names (`POST /api/v1/prune {repo}`, `/tokens/revoke {token_ids}`), through
  // the same allow-list as GraphQL inputs; bodies a handler never parsed are not read here
  const fromBody = inputTargetOf(camelKeys(req.body));
  if (fromBody) parts.push(fromBody);
  return parts.length ? parts.join(' ') : null;
}

/** flat-manager's bodies use snake_case and kebab-case keys; the allow-list is camelCase. */
function camelKeys(body: unknown): Record<string, unknown> | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Buffer.isBuffer(body)) return null;
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
}
