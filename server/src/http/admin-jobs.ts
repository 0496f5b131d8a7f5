// Agendash, Agenda's job dashboard, at /admin/jobs for admins. Browsers log in with HTTP
// Basic auth (any user name, the admin token as password); tools send a Bearer token.
import { Router, type RequestHandler } from 'express';
import { createExpressMiddleware } from 'agendash';
import type { Services } from '../services.ts';
import { TokenService } from '../domain/tokens/service.ts';
import { hasScope } from '../domain/tokens/claims.ts';
import { AuthenticationError } from '../domain/errors.ts';

export const adminJobsPath = '/admin/jobs';

function adminOnly(services: Services): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization ?? '';
    let token: string | undefined;
    const basic = /^Basic\s+(\S+)$/i.exec(header);
    if (basic) token = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').slice(1).join(':');
    try {
      token ??= TokenService.tokenFromHeader(header || undefined, services.config.tokenPrefix);
      const viewer = await services.tokens.authenticate(token);
      if (!hasScope(viewer.claims, 'admin')) {
        res.status(403).json({ status: 403, 'error-type': 'token-insufficient', message: 'the job dashboard needs a token with the admin scope' });
        return;
      }
      next();
    } catch (err) {
      if (!(err instanceof AuthenticationError)) return next(err);
      res.status(401).set('www-authenticate', 'Basic realm="fmd jobs (password: admin token)"').json({ status: 401, 'error-type': 'invalid-token', message: err.message });
    }
  };
}

export function adminJobsRouter(services: Services): Router {
  const router = Router();
  router.use(adminOnly(services), createExpressMiddleware(services.jobEngine.agenda));
  return router;
}
