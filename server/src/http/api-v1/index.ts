// flat-manager's REST API under /api/v1, for flat-manager-client (Python and Rust) and CI
// pipelines written against it: same paths, JSON shapes, Location headers, status codes and
// error JSON. Every handler authenticates, then calls the build/token services.
import express, { type ErrorRequestHandler, type Request, type Response, type Router } from 'express';
import type { Services } from '../../services.ts';
import { DomainError, InvalidInputError } from '../../domain/errors.ts';
import { requireClaims } from '../../domain/builds/access.ts';
import { WrongStateError } from '../../domain/builds/states.ts';
import { TokenService, type Viewer } from '../../domain/tokens/service.ts';
import { isDatabaseUnavailable } from '../../db/index.ts';
import { buildJson, buildRefJson, checkJson, jobJson, naiveDate } from './json.ts';
import { multipartBoundary, readMultipart } from './multipart.ts';

export const apiV1Path = '/api/v1';

/** JSON bodies up to this size (missing_objects sends thousands of names per request). */
const JSON_LIMIT = 64 * 1024 * 1024;

export function createApiV1Router(services: Services): Router {
  const router = express.Router();
  const { builds, config } = services;
  // Any content type, gzip or deflate (body-parser inflates), on any method: clients send JSON bodies on GETs.
  const json = express.json({ limit: JSON_LIMIT, type: () => true, strict: false });

  async function viewerOf(req: Request): Promise<Viewer> {
    return services.tokens.authenticate(TokenService.tokenFromHeader(req.headers.authorization, config.tokenPrefix));
  }
  const base = (req: Request) => config.baseUrl ?? `${req.protocol}://${req.get('host')}`;
  const located = (req: Request, res: Response, path: string, body: unknown) => {
    res.set('location', `${base(req)}${apiV1Path}${path}`).json(body);
  };
  const idParam = (req: Request, name = 'id'): number => {
    const raw = String(req.params[name]);
    if (!/^\d{1,9}$/.test(raw)) throw new DomainError('not-found', 404, `no ${name} ${raw.slice(0, 40)}`);
    return Number(raw);
  };
  const body = (req: Request): Record<string, unknown> => {
    const b: unknown = req.body;
    if (b === undefined || b === null) return {};
    if (typeof b !== 'object' || Array.isArray(b)) throw new InvalidInputError('the request body must be a JSON object');
    return b as Record<string, unknown>;
  };
  const str = (v: unknown, field: string): string | null => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw new InvalidInputError(`${field} must be a string`, field);
    return v;
  };
  const logOffset = (req: Request): number => {
    const o = body(req)['log-offset'];
    return typeof o === 'number' && Number.isInteger(o) && o >= 0 ? o : 0;
  };
  const jobBody = async (jobId: number, offset: number) => {
    const job = await services.jobRecords.get(jobId);
    return jobJson(job, await services.jobRecords.logAfterClientOffset(jobId, offset));
  };

  // --- builds ----------------------------------------------------------------------------------

  router.post('/build', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const b = body(req);
    const repo = str(b.repo, 'repo');
    if (!repo) throw new InvalidInputError('"repo" is required', 'repo');
    const pd = b['public-download'] ?? b.public_download;
    const build = await builds.create(viewer, {
      repo,
      appId: str(b['app-id'] ?? b.app_id, 'app-id'),
      publicDownload: typeof pd === 'boolean' ? pd : null,
      buildLogUrl: str(b['build-log-url'] ?? b.build_log_url, 'build-log-url'),
    });
    located(req, res, `/build/${build.id}`, buildJson(await builds.details(build)));
  });

  router.get('/build', async (req, res) => {
    const viewer = await viewerOf(req);
    const appId = req.query['app-id'] ?? req.query.app_id;
    const list = await builds.list(viewer, typeof appId === 'string' ? appId : null);
    res.json(list.map(buildJson));
  });

  router.get('/build/:id', async (req, res) => {
    const viewer = await viewerOf(req);
    const build = await builds.getFor(viewer, idParam(req), ['build', 'upload']);
    res.json(buildJson(await builds.details(build)));
  });

  router.get('/build/:id/extended', async (req, res) => {
    const viewer = await viewerOf(req);
    const build = await builds.getFor(viewer, idParam(req), ['build', 'upload']);
    res.json({
      build: buildJson(await builds.details(build)),
      build_refs: (await builds.refs(build.id)).map(buildRefJson),
      checks: (await builds.checks(build.id)).map(checkJson),
    });
  });

  router.get('/build/:id/build_ref/:ref_id', async (req, res) => {
    const viewer = await viewerOf(req);
    res.json(buildRefJson(await builds.getRef(viewer, idParam(req), idParam(req, 'ref_id'))));
  });

  router.get('/build/:id/missing_objects', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const missing = await builds.missingObjects(viewer, idParam(req), body(req).wanted);
    res.json({ missing });
  });

  router.post('/build/:id/upload', async (req, res, next) => {
    const source = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
      const viewer = await viewerOf(req);
      const boundary = multipartBoundary(req.headers['content-type']);
      if (!boundary) throw new InvalidInputError('expected a multipart body with a boundary', 'file');
      const declared = Number(req.headers['content-length'] ?? 0) || 0;
      const sizes = await builds.upload(viewer, idParam(req), readMultipart({ [Symbol.asyncIterator]: () => source }, boundary), declared);
      res.json(sizes);
    } catch (err) {
      next(err);
      void drain(source, () => req.destroy());
    }
  });

  router.post('/build/:id/build_ref', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const b = body(req);
    const ref = await builds.addRef(viewer, id, {
      ref: str(b.ref, 'ref') ?? '',
      commit: str(b.commit, 'commit') ?? '',
      buildLogUrl: str(b['build-log-url'] ?? b.build_log_url, 'build-log-url'),
    });
    located(req, res, `/build/${id}/build_ref/${ref.id}`, buildRefJson(ref));
  });

  router.post('/build/:id/add_extra_ids', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const build = await builds.addExtraIds(viewer, id, body(req).ids);
    located(req, res, `/build/${id}`, buildJson(await builds.details(build)));
  });

  router.post('/build/:id/commit', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const b = body(req);
    const tt = b.token_type;
    if (tt !== undefined && tt !== null && (typeof tt !== 'number' || !Number.isInteger(tt))) throw new InvalidInputError('token_type must be an integer', 'token_type');
    const job = await builds.commit(viewer, id, {
      endOfLife: str(b.endoflife, 'endoflife'),
      endOfLifeRebase: str(b.endoflife_rebase, 'endoflife_rebase'),
      tokenType: (tt as number | null | undefined) ?? null,
    });
    located(req, res, `/build/${id}/commit`, jobJson(job, ''));
  });

  router.post('/build/:id/publish', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const job = await builds.publish(viewer, id);
    located(req, res, `/build/${id}/publish`, jobJson(job, ''));
  });

  for (const kind of ['commit', 'publish'] as const) {
    router.get(`/build/:id/${kind}`, json, async (req, res) => {
      const viewer = await viewerOf(req);
      const build = await builds.getFor(viewer, idParam(req), 'build');
      const details = await builds.details(build);
      const job = kind === 'commit' ? details.commitJob : details.publishJob;
      if (!job) throw new DomainError('not-found', 404, `build ${build.id} has no ${kind} job`);
      res.json(await jobBody(job.id, logOffset(req)));
    });
  }

  router.post('/build/:id/purge', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const build = await builds.purge(viewer, id);
    located(req, res, `/build/${id}`, buildJson(await builds.details(build)));
  });

  // --- jobs ------------------------------------------------------------------------------------

  router.get('/job/:id', json, async (req, res) => {
    const viewer = await viewerOf(req);
    requireClaims(viewer, 'build', 'jobs');
    res.json(await jobBody(idParam(req), logOffset(req)));
  });

  router.post('/job/:id/check/review', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const b = body(req);
    const ns = b['new-status'] as { status?: unknown; reason?: unknown } | string | undefined;
    const status = typeof ns === 'string' ? ns : typeof ns?.status === 'string' ? ns.status : null;
    if (!status) throw new InvalidInputError('"new-status" is required', 'new-status');
    const reason = typeof ns === 'object' && typeof ns?.reason === 'string' ? ns.reason : null;
    await builds.reviewCheck(viewer, idParam(req), { status, reason, results: str(b['new-results'], 'new-results') });
    res.status(204).end();
  });

  // --- repos -----------------------------------------------------------------------------------

  router.post('/repo/:repo/republish', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const b = body(req);
    const job = await builds.republish(viewer, String(req.params.repo), {
      app: str(b.app, 'app') ?? '',
      endOfLife: str(b.endoflife, 'endoflife'),
      endOfLifeRebase: str(b.endoflife_rebase, 'endoflife_rebase'),
    });
    located(req, res, `/job/${job.id}`, jobJson(job, ''));
  });

  router.post('/prune', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const repo = str(body(req).repo, 'repo');
    if (!repo) throw new InvalidInputError('"repo" is required', 'repo');
    const job = await builds.prune(viewer, repo);
    located(req, res, `/job/${job.id}`, jobJson(job, ''));
  });

  // --- tokens ----------------------------------------------------------------------------------

  router.post('/token_subset', json, async (req, res) => {
    const viewer = await viewerOf(req);
    const b = body(req);
    const list = (v: unknown, f: string): string[] | undefined => {
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new InvalidInputError(`${f} must be an array of strings`, f);
      return v as string[];
    };
    if (typeof b.duration !== 'number') throw new InvalidInputError('"duration" must be a number of seconds', 'duration');
    const { token } = await services.tokens.createSubset(viewer, {
      sub: str(b.sub, 'sub') ?? '',
      scope: list(b.scope, 'scope') ?? [],
      duration: b.duration,
      prefixes: list(b.prefixes, 'prefixes'),
      apps: list(b.apps, 'apps'),
      repos: list(b.repos, 'repos'),
      name: str(b.name, 'name') ?? '',
    });
    res.json({ token });
  });

  const tokenIds = (req: Request): string[] => {
    const ids = body(req).token_ids;
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string')) throw new InvalidInputError('"token_ids" must be an array of strings', 'token_ids');
    return ids as string[];
  };

  router.post('/tokens/get_list', json, async (req, res) => {
    const viewer = await viewerOf(req);
    requireClaims(viewer, '', 'tokenmanagement');
    const rows = await services.prisma.apiToken.findMany({ where: { jti: { in: tokenIds(req) } } });
    res.json(
      rows.map((r) => ({
        token_id: r.jti,
        expires: r.expiresAt ? naiveDate(r.expiresAt) : null,
        last_used: r.lastUsedAt ? naiveDate(r.lastUsedAt) : null,
        revoked_at: r.revokedAt ? naiveDate(r.revokedAt) : null,
      })),
    );
  });

  router.post('/tokens/revoke', json, async (req, res) => {
    const viewer = await viewerOf(req);
    requireClaims(viewer, '', 'tokenmanagement');
    await services.tokens.revoke(viewer, tokenIds(req));
    res.status(204).end();
  });

  router.use((req, res) => {
    res.status(404).json({ status: 404, 'error-type': 'not-found', message: `no route for ${req.method} ${apiV1Path}${req.path}` });
  });

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    if (res.headersSent) return;
    res.status(500);
    const e = err as { type?: string; message?: string; status?: number };
    if (err instanceof DomainError) {
      // fmd's extra error types are flat-manager's generic-error on this API.
      const known = ['wrong-repo-state', 'wrong-published-state', 'invalid-token', 'token-insufficient', 'not-found', 'generic-error'];
      const out: Record<string, unknown> = {
        status: err.httpStatus,
        'error-type': known.includes(err.errorType) ? err.errorType : 'generic-error',
        message: err.message,
      };
      if (err instanceof WrongStateError) {
        out['current-state'] = err.currentState;
        out['expected-state'] = err.expectedState;
      }
      res.status(err.httpStatus).json(out);
    } else if (isDatabaseUnavailable(err)) {
      res.status(503).set('retry-after', '5').json({ status: 503, 'error-type': 'generic-error', message: 'the database is unavailable; retry shortly' });
    } else if (e.type === 'entity.too.large') {
      res.status(413).json({ status: 413, 'error-type': 'generic-error', message: `request body larger than ${JSON_LIMIT} bytes` });
    } else if (e.type === 'entity.parse.failed' || e.type === 'encoding.unsupported' || (e.status === 400 && e.type)) {
      res.status(400).json({ status: 400, 'error-type': 'generic-error', message: `bad request body: ${e.message}` });
    } else {
      services.log.error({ err, path: req.path }, 'api/v1 request failed');
      res.status(500).json({ status: 500, 'error-type': 'generic-error', message: 'Internal Server Error' });
    }
  };
  router.use(onError);
  return router;
}

/** Reads and drops the rest of a request body (up to 256 MiB, then gives up and closes). */
async function drain(source: AsyncIterator<Buffer>, giveUp: () => void): Promise<void> {
  let total = 0;
  try {
    for (;;) {
      const r = await source.next();
      if (r.done) return;
      total += r.value.length;
      if (total > 256 * 1024 ** 2) return giveUp();
    }
  } catch {
    // the client went away
  }
}
