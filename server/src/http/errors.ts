// The HTTP boundary's one error table: every failure of a request (a domain error, a bad body,
// a database outage, a bug) becomes a status and flat-manager's error JSON
// `{status, error-type, message, current-state?, expected-state?}` here and nowhere else.
// Client mistakes are 4xx and logged below error level without a stack; anything unexpected
// answers a generic message with the request id, and only the log has the details.
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { DomainError, AuthenticationError, type ErrorType } from '../domain/errors.ts';
import { WrongStateError } from '../domain/builds/states.ts';
import { isDatabaseUnavailable, tooLongColumn } from '../db/index.ts';
import { requestIdOf } from './request-id.ts';
import { RateLimitedError, type RateLimits } from './rate-limits.ts';

const statusOf: Record<ErrorType, number> = {
  'invalid-token': 401,
  'token-insufficient': 403,
  'not-found': 404,
  'wrong-repo-state': 400,
  'wrong-published-state': 400,
  'invalid-input': 400,
  conflict: 409,
  // flat-manager answers a purge of a build in use with 400.
  'build-busy': 400,
  'insufficient-storage': 507,
  unavailable: 503,
  'generic-error': 500,
};

/** The error-type values flat-manager's clients know; fmd's own types go out as generic-error. */
const wireTypes = new Set<string>(['wrong-repo-state', 'wrong-published-state', 'invalid-token', 'token-insufficient', 'not-found', 'generic-error']);

/** Sends flat-manager's error JSON. Errors are never cached: what is missing now may exist soon. */
export function sendError(res: Response, status: number, errorType: string, message: string, extra: Record<string, unknown> = {}): void {
  res
    .status(status)
    .set('cache-control', 'no-store')
    .json({ status, 'error-type': wireTypes.has(errorType) ? errorType : 'generic-error', message, ...extra });
}

export function sendDomainError(res: Response, err: DomainError): void {
  const extra: Record<string, unknown> = {};
  if (err instanceof WrongStateError) {
    extra['current-state'] = err.currentState;
    extra['expected-state'] = err.expectedState;
  }
  if (err instanceof AuthenticationError && !res.get('www-authenticate')) res.set('www-authenticate', 'Bearer');
  if (err.errorType === 'unavailable') res.set('retry-after', '5');
  sendError(res, statusOf[err.errorType], err.errorType, err.message, extra);
}

/** A rate limit's refusal: 429, Retry-After, flat-manager's error JSON (generic-error: its clients know no other type for it). */
export function sendRateLimited(res: Response, err: RateLimitedError): void {
  res.set('retry-after', String(err.retryAfterSecs));
  sendError(res, 429, 'generic-error', err.message);
}

/** What body-parser (through http-errors) and the decompressors throw for a bad request body. */
type ClientHttpError = { status: number; expose: true; type?: string; message: string };

function isClientHttpError(err: unknown): err is ClientHttpError {
  const e = err as Partial<ClientHttpError> | null;
  return typeof e === 'object' && e !== null && e.expose === true && typeof e.status === 'number' && e.status >= 400 && e.status < 500;
}

function clientErrorMessage(err: ClientHttpError, limit: number | undefined): string {
  switch (err.type) {
    case 'entity.too.large':
      return limit ? `request body larger than ${limit} bytes` : 'request body too large';
    case 'entity.parse.failed':
      return `request body is not valid JSON: ${err.message}`;
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return err.message;
    default:
      // A body that is not valid in its Content-Encoding (zlib's "incorrect header check", ...).
      return `bad request body: ${err.message}`;
  }
}

/** Request body limits are set per route; the error table names the one that applied. */
export const bodyLimitKey = 'fmdBodyLimit';

/**
 * `limits`: authentication failures are counted per client IP, and once an IP is over the limit
 * its failures are answered 429 instead of 401.
 */
export function errorHandler(log: Logger, limits?: RateLimits): ErrorRequestHandler {
  return async (err, req, res, _next) => {
    const reqId = requestIdOf(req);
    if (res.headersSent) {
      log.warn({ reqId, path: req.path, err: (err as Error)?.message }, 'request failed after its response started');
      res.destroy();
      return;
    }
    if (limits && err instanceof AuthenticationError) {
      const limited = await limits.authFailure(req.ip).catch(() => null);
      if (limited && !res.headersSent) err = limited;
    }
    if (err instanceof RateLimitedError) {
      log.info({ reqId, method: req.method, path: req.path, ip: req.ip }, err.message);
      return sendRateLimited(res, err);
    }
    if (err instanceof DomainError && err.errorType !== 'generic-error') {
      log.debug({ reqId, path: req.path, errorType: err.errorType }, err.message);
      return sendDomainError(res, err);
    }
    if (isDatabaseUnavailable(err)) {
      log.warn({ reqId, path: req.path }, 'the database is unavailable');
      res.set('retry-after', '5');
      return sendError(res, 503, 'generic-error', 'the database is unavailable; retry shortly');
    }
    if (isClientHttpError(err)) {
      const message = clientErrorMessage(err, res.locals[bodyLimitKey] as number | undefined);
      log.info({ reqId, method: req.method, path: req.path, status: err.status }, message);
      return sendError(res, err.status, 'generic-error', message);
    }
    const column = tooLongColumn(err);
    if (column) {
      // A length no domain rule checked: the client's mistake, and a rule missing (hence the stack).
      log.warn({ reqId, method: req.method, path: req.path, err }, `a value too long for ${column} reached the database`);
      return sendError(res, 400, 'invalid-input', `a value is too long (${column})`);
    }
    log.error({ reqId, method: req.method, path: req.path, err }, 'request failed');
    sendError(res, 500, 'generic-error', `internal error (request id ${reqId})`, { 'request-id': reqId });
  };
}

export function notFoundHandler(prefix = ''): RequestHandler {
  return (req: Request, res: Response) => sendError(res, 404, 'not-found', `no route for ${req.method} ${prefix}${req.path}`);
}
