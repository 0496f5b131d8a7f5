// Agendash, Agenda's job dashboard, at /admin/jobs for admins. Browsers log in with HTTP
// Basic auth (any user name, the admin token as password); tools send a Bearer token.
import { isFmdAdmin } from '../domain/users/access.ts';
import { Router, type RequestHandler } from 'express';
import { createExpressMiddleware } from 'agendash';
import type { Services } from '../services.ts';
import { hasScope } from '../domain/tokens/claims.ts';
import { AuthenticationError, ForbiddenError } from '../domain/errors.ts';
import { viewerOf } from './auth.ts';

export const adminJobsPath = '/admin/jobs';

function adminOnly(services: Services): RequestHandler {
  return async (req, res, next) => {
    try {
      const viewer = await viewerOf(services, req, { basic: true });
      if (!isFmdAdmin(viewer)) throw new ForbiddenError('the job dashboard needs a token with the admin scope', 'admin');
      next();
    } catch (err) {
      // The error table answers; the Basic challenge makes browsers ask for the token.
      if (err instanceof AuthenticationError) res.set('www-authenticate', 'Basic realm="fmd jobs (password: admin token)"');
      next(err);
    }
  };
}

export function adminJobsRouter(services: Services): Router {
  const router = Router();
  router.use(adminOnly(services), createExpressMiddleware(services.jobEngine.agenda));
  return router;
}
