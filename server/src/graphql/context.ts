// Per-request (HTTP) or per-connection (WebSocket) context: the services and the viewer.
import { GraphQLError } from 'graphql';
import type { Services } from '../services.ts';
import type { Viewer } from '../domain/tokens/service.ts';
import type { AuthenticationError } from '../domain/errors.ts';
import { hasScope, type Scope } from '../domain/tokens/claims.ts';

export type GraphQLContext = {
  services: Services;
  /** null when the request carried no valid token */
  viewer: Viewer | null;
  /** why authentication failed, when a token was sent but rejected */
  authFailure: AuthenticationError | null;
  /** the HTTP request's id, or the WebSocket connection's: errors name it, the log has the details */
  requestId: string;
  /** the client's address (for the audit log), when known */
  clientIp: string | null;
  /** the client's User-Agent header (HTTP), kept with a password sign-in's session */
  userAgent?: string | null;
  /** the error to raise when an auth scope check fails */
  authorizationError(message: string): GraphQLError;
  /**
   * Checks the viewer holds one of `scopes`. Subscriptions call it in `subscribe`: scope-auth
   * checks run when an event resolves, which would leave a forbidden subscription open.
   */
  requireAnyScope(scopes: readonly Scope[]): Viewer;
};

export function createContext(
  services: Services,
  viewer: Viewer | null,
  authFailure: AuthenticationError | null,
  requestId: string,
  clientIp: string | null = null,
): GraphQLContext {
  const ctx: GraphQLContext = {
    services,
    viewer,
    authFailure,
    requestId,
    clientIp,
    requireAnyScope(scopes) {
      if (!viewer) throw ctx.authorizationError('not authenticated');
      if (!scopes.some((s) => hasScope(viewer.claims, s))) throw ctx.authorizationError(`needs one of the scopes ${scopes.join(', ')}`);
      return viewer;
    },
    authorizationError(message) {
      if (!viewer) {
        const failure = authFailure;
        return new GraphQLError(failure ? `not authenticated: ${failure.message}` : 'not authenticated: send Authorization: Bearer <token>', {
          extensions: { code: 'UNAUTHENTICATED', errorType: 'invalid-token', reason: failure?.reason ?? 'missing', http: { status: 401 } },
        });
      }
      return new GraphQLError(`forbidden: your token does not allow this (${message})`, {
        extensions: { code: 'FORBIDDEN', errorType: 'token-insufficient' },
      });
    },
  };
  return ctx;
}
