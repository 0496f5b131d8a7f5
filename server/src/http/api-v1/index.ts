// flat-manager's REST API under /api/v1, for flat-manager-client (Python and Rust) and CI
// pipelines written against it: same paths, JSON shapes, Location headers, status codes and
// error JSON. Every handler authenticates first, and only then reads its body (so an
// unauthenticated client cannot make fmd parse anything), then calls the domain services.
// Errors go to the HTTP boundary's one error table (../errors.ts).
import express, { type Request, type Response, type Router } from 'express';
import type { Services } from '../../services.ts';
import { NotFoundError, InvalidInputError } from '../../domain/errors.ts';
import { requireClaims } from '../../domain/builds/access.ts';
import { subsetNameOf, type Viewer } from '../../domain/tokens/service.ts';
import { tokenOf, viewerOf as authenticate } from '../auth.ts';
import { tokenKey, type RateLimits } from '../rate-limits.ts';
import { readBytes, readJson } from '../body.ts';
import { notFoundHandler } from '../errors.ts';
import { buildJson, buildRefJson, checkJson, jobJson, naiveDate } from './json.ts';
import { buildSetRoutes } from './build-sets.ts';
import { gitBuildFields, jsonFields } from './git-fields.ts';
import { multipartBoundary, readMultipart } from './multipart.ts';
import { MISSING_OBJECTS_BODY_LIMIT } from '../../domain/builds/missing-objects.ts';
import { addGitHookRoutes } from './hooks.ts';

export const apiV1Path = '/api/v1';

/** `rateLimits`: uploads are counted per token and per client IP (requests and bytes). */
export function createApiV1Router(services: Services, rateLimits?: RateLimits): Router {
  const router = express.Router();
  const { builds, config } = services;

  const viewerOf = (req: Request): Promise<Viewer> => authenticate(services, req);
  const base = (req: Request) => config.baseUrl ?? `${req.protocol}://${req.get('host')}`;
  const located = (req: Request, res: Response, path: string, body: unknown) => {
    res.set('location', `${base(req)}${apiV1Path}${path}`).json(body);
  };
  const idParam = (req: Request, name = 'id'): number => {
    const raw = String(req.params[name]);
    if (!/^\d{1,9}$/.test(raw)) throw new NotFoundError(name, raw.slice(0, 40));
    return Number(raw);
  };
  /** The request's JSON body as an object; read only here, after the handler authenticated. */
  const body = async (req: Request, res: Response): Promise<Record<string, unknown>> => {
    const b = await readJson(req, res);
    if (b === undefined || b === null) return {};
    if (typeof b !== 'object' || Array.isArray(b)) throw new InvalidInputError('the request body must be a JSON object');
    return b as Record<string, unknown>;
  };
  const str = (v: unknown, field: string): string | null => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw new InvalidInputError(`${field} must be a string`, field);
    return v;
  };
  const logOffset = async (req: Request, res: Response): Promise<number> => {
    const o = (await body(req, res))['log-offset'];
    return typeof o === 'number' && Number.isInteger(o) && o >= 0 ? o : 0;
  };
  const jobBody = async (jobId: number, offset: number) => {
    const job = await services.jobRecords.get(jobId);
    return jobJson(job, await services.jobRecords.logAfterClientOffset(jobId, offset));
  };

  // --- builds ----------------------------------------------------------------------------------

  router.post('/build', async (req, res) => {
    const viewer = await viewerOf(req);
    const b = await body(req, res);
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

  // fmd's extension beside flat-manager's create: a build fmd makes itself from a git source.
  router.post('/build/git', async (req, res) => {
    const viewer = await viewerOf(req);
    const b = await body(req, res);
    const repo = str(b.repo, 'repo');
    if (!repo) throw new InvalidInputError('"repo" is required', 'repo');
    const build = await services.gitBuilds.create(viewer, {
      repo,
      ...gitBuildFields(b),
      dependsOn: jsonFields(b).ints('depends-on', 'build ids'),
    });
    located(req, res, `/build/${build.id}`, buildJson(await builds.details(build)));
  });

  router.post('/build/:id/cancel', async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const build = await services.gitBuilds.cancel(viewer, id, str((await body(req, res)).reason, 'reason'));
    located(req, res, `/build/${id}`, buildJson(await builds.details(build)));
  });

  router.post('/build/:id/rebuild', async (req, res) => {
    const viewer = await viewerOf(req);
    const build = await services.gitBuilds.rebuild(viewer, idParam(req));
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

  router.get('/build/:id/missing_objects', async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const answer = await builds.missingObjects(viewer, id, await readBytes(req, res, MISSING_OBJECTS_BODY_LIMIT));
    // end(), not send(): send() would hash tens of MB for an ETag on the event loop.
    res.status(200).type('application/json').setHeader('content-length', answer.length);
    res.end(answer);
  });

  router.post('/build/:id/upload', async (req, res, next) => {
    const source = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
      const viewer = await viewerOf(req);
      const boundary = multipartBoundary(req.headers['content-type']);
      if (!boundary) throw new InvalidInputError('expected a multipart body with a boundary', 'file');
      const declared = Number(req.headers['content-length'] ?? 0) || 0;
      const counted = rateLimits ? tokenKey(viewer, tokenOf(req, config.tokenPrefix)) : '';
      await rateLimits?.upload(req.ip, counted, declared);
      // A body of undeclared length (chunked) counts towards the byte limits once it was read.
      let read = 0;
      const body: AsyncIterator<Buffer> =
        declared || !rateLimits
          ? source
          : {
              next: async () => {
                const r = await source.next();
                if (!r.done) read += r.value.length;
                return r;
              },
            };
      try {
        const sizes = await builds.upload(viewer, idParam(req), readMultipart({ [Symbol.asyncIterator]: () => body }, boundary), declared);
        res.json(sizes);
      } finally {
        if (read) await rateLimits?.uploadedBytes(req.ip, counted, read).catch(() => undefined);
      }
    } catch (err) {
      next(err);
      void drain(source, () => req.destroy());
    }
  });

  router.post('/build/:id/build_ref', async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const b = await body(req, res);
    const ref = await builds.addRef(viewer, id, {
      ref: str(b.ref, 'ref') ?? '',
      commit: str(b.commit, 'commit') ?? '',
      buildLogUrl: str(b['build-log-url'] ?? b.build_log_url, 'build-log-url'),
    });
    located(req, res, `/build/${id}/build_ref/${ref.id}`, buildRefJson(ref));
  });

  router.post('/build/:id/add_extra_ids', async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const build = await builds.addExtraIds(viewer, id, (await body(req, res)).ids);
    located(req, res, `/build/${id}`, buildJson(await builds.details(build)));
  });

  router.post('/build/:id/commit', async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const b = await body(req, res);
    const tt = b.token_type;
    if (tt !== undefined && tt !== null && (typeof tt !== 'number' || !Number.isInteger(tt))) throw new InvalidInputError('token_type must be an integer', 'token_type');
    const job = await builds.commit(viewer, id, {
      endOfLife: str(b.endoflife, 'endoflife'),
      endOfLifeRebase: str(b.endoflife_rebase, 'endoflife_rebase'),
      tokenType: (tt as number | null | undefined) ?? null,
    });
    located(req, res, `/build/${id}/commit`, jobJson(job, ''));
  });

  router.post('/build/:id/publish', async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const job = await builds.publish(viewer, id);
    located(req, res, `/build/${id}/publish`, jobJson(job, ''));
  });

  for (const kind of ['commit', 'publish'] as const) {
    router.get(`/build/:id/${kind}`, async (req, res) => {
      const viewer = await viewerOf(req);
      const build = await builds.getFor(viewer, idParam(req), 'build');
      const details = await builds.details(build);
      const job = kind === 'commit' ? details.commitJob : details.publishJob;
      if (!job) throw new NotFoundError(`${kind} job of build`, String(build.id));
      res.json(await jobBody(job.id, await logOffset(req, res)));
    });
  }

  router.post('/build/:id/purge', async (req, res) => {
    const viewer = await viewerOf(req);
    const id = idParam(req);
    const build = await builds.purge(viewer, id);
    located(req, res, `/build/${id}`, buildJson(await builds.details(build)));
  });

  // --- jobs ------------------------------------------------------------------------------------

  router.get('/job/:id', async (req, res) => {
    const viewer = await viewerOf(req);
    requireClaims(viewer, 'build', 'jobs');
    // A user's token: only the jobs of the builds its roles let it read.
    if ((viewer.grants ?? null) !== null) await services.jobRecords.getFor(viewer, idParam(req));
    res.json(await jobBody(idParam(req), await logOffset(req, res)));
  });

  router.post('/job/:id/check/review', async (req, res) => {
    const viewer = await viewerOf(req);
    const b = await body(req, res);
    const ns = b['new-status'] as { status?: unknown; reason?: unknown } | string | undefined;
    const status = typeof ns === 'string' ? ns : typeof ns?.status === 'string' ? ns.status : null;
    if (!status) throw new InvalidInputError('"new-status" is required', 'new-status');
    const reason = typeof ns === 'object' && typeof ns?.reason === 'string' ? ns.reason : null;
    await builds.reviewCheck(viewer, idParam(req), { status, reason, results: str(b['new-results'], 'new-results') });
    res.status(204).end();
  });

  // --- repos -----------------------------------------------------------------------------------

  router.post('/repo/:repo/republish', async (req, res) => {
    const viewer = await viewerOf(req);
    const b = await body(req, res);
    const job = await builds.republish(viewer, String(req.params.repo), {
      app: str(b.app, 'app') ?? '',
      endOfLife: str(b.endoflife, 'endoflife'),
      endOfLifeRebase: str(b.endoflife_rebase, 'endoflife_rebase'),
    });
    located(req, res, `/job/${job.id}`, jobJson(job, ''));
  });

  router.post('/prune', async (req, res) => {
    const viewer = await viewerOf(req);
    const repo = str((await body(req, res)).repo, 'repo');
    if (!repo) throw new InvalidInputError('"repo" is required', 'repo');
    const job = await builds.prune(viewer, repo);
    located(req, res, `/job/${job.id}`, jobJson(job, ''));
  });

  // --- tokens ----------------------------------------------------------------------------------

  router.post('/token_subset', async (req, res) => {
    const viewer = await viewerOf(req);
    const b = await body(req, res);
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
      // flat-manager's naming, kept on its API: CI tooling may read the name claim.
      name: subsetNameOf(viewer.claims.name, str(b.name, 'name') ?? ''),
    });
    res.json({ token });
  });

  const tokenIds = async (req: Request, res: Response): Promise<string[]> => {
    const ids = (await body(req, res)).token_ids;
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string')) throw new InvalidInputError('"token_ids" must be an array of strings', 'token_ids');
    return ids as string[];
  };

  router.post('/tokens/get_list', async (req, res) => {
    const viewer = await viewerOf(req);
    requireClaims(viewer, '', ['tokenmanagement', 'admin']);
    const rows = await services.tokens.listByJti(viewer, await tokenIds(req, res));
    res.json(
      rows.map((r) => ({
        token_id: r.jti,
        expires: r.expiresAt ? naiveDate(r.expiresAt) : null,
        last_used: r.lastUsedAt ? naiveDate(r.lastUsedAt) : null,
        revoked_at: r.revokedAt ? naiveDate(r.revokedAt) : null,
      })),
    );
  });

  router.post('/tokens/revoke', async (req, res) => {
    const viewer = await viewerOf(req);
    requireClaims(viewer, '', ['tokenmanagement', 'admin']);
    await services.tokens.revoke(viewer, await tokenIds(req, res));
    res.status(204).end();
  });

  buildSetRoutes(router, services);
  // --- git forge webhooks (authenticated by their signature, not a token) ----------------------

  addGitHookRoutes(router, services, (req, path) => `${base(req)}${apiV1Path}${path}`);

  router.use(notFoundHandler(apiV1Path));
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
