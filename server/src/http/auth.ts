// The one way an HTTP request presents a token: `Authorization: Bearer <token>` (with the
// configured token prefix allowed before it). Only the job dashboard, which browsers open,
// also takes HTTP Basic (the token as password): a browser sends cached Basic credentials on
// any request to the site, so no API route may accept them.
import type { Request } from 'express';
import type { Services } from '../services.ts';
import { TokenService, type Viewer } from '../domain/tokens/service.ts';

export function tokenOf(req: Request, tokenPrefix: string, opts: { basic?: boolean } = {}): string {
  const header = req.headers.authorization;
  if (opts.basic && header) {
    const basic = /^Basic\s+(\S+)$/i.exec(header);
    if (basic) return Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').slice(1).join(':');
  }
  return TokenService.tokenFromHeader(header, tokenPrefix);
}

const authenticated = new WeakMap<Request, Viewer>();

/** Authenticates the request's token: signature, expiry, revocation. Throws AuthenticationError. */
export async function viewerOf(services: Pick<Services, 'tokens' | 'config'>, req: Request, opts: { basic?: boolean } = {}): Promise<Viewer> {
  const viewer = await services.tokens.authenticate(tokenOf(req, services.config.tokenPrefix, opts));
  authenticated.set(req, viewer);
  return viewer;
}

/** The viewer viewerOf authenticated for this request, if any (the audit log names its token). */
export function authenticatedViewerOf(req: Request): Viewer | null {
  return authenticated.get(req) ?? null;
}
