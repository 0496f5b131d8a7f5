// Webhooks of git forges: POST /api/v1/hooks/git/<source>. No bearer token: a request is
// authenticated by its signature (or GitLab's token) made with the source's secret. The source
// is looked up before the body is read, so an unknown id costs no body; bodies are capped.
import type { Request, Router } from 'express';
import type { Services } from '../../services.ts';
import { NotFoundError } from '../../domain/errors.ts';
import { WEBHOOK_BODY_LIMIT } from '../../domain/builds/git/sources.ts';
import { readBytes } from '../body.ts';

export function addGitHookRoutes(router: Router, services: Services, buildUrl: (req: Request, path: string) => string): void {
  router.post('/hooks/git/:source', async (req, res) => {
    const raw = String(req.params.source);
    if (!/^[1-9]\d{0,8}$/.test(raw)) throw new NotFoundError('git source', raw.slice(0, 40));
    const source = await services.gitSources.forHook(Number(raw));
    const body = (await readBytes(req, res, WEBHOOK_BODY_LIMIT)) ?? Buffer.alloc(0);
    const answer = await services.gitSources.push(source, req.headers, body);
    if (answer.build !== undefined) res.set('location', buildUrl(req, `/build/${answer.build}`));
    res.status(answer.status).json({ status: answer.status, message: answer.message, ...(answer.build !== undefined ? { build: answer.build, superseded: answer.superseded ?? [] } : {}) });
  });
}
