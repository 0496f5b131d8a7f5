// What a GraphQL client is told about an error, and what the log is told. Expected failures
// (domain errors, refused input, parse and validation errors, auth) reach the client as they
// are and are logged below error level without a stack; anything else reaches the client as
// "internal error" with the request id, and only the log has the details (stack, SQL, paths).
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { PothosValidationError } from '@pothos/core';
import type { Logger } from 'pino';
import { AuthenticationError, DomainError } from '../domain/errors.ts';
import { isDatabaseUnavailable, tooLongColumn } from '../db/index.ts';

/** The error a resolver threw, under graphql's located wrapper. */
function originalOf(error: unknown): unknown {
  return (error as { originalError?: unknown } | null)?.originalError ?? error;
}

/** True for an error fmd did not mean to send: a bug or a failing dependency. */
export function isUnexpected(error: unknown): boolean {
  const original = originalOf(error);
  return !(original instanceof GraphQLError || original instanceof DomainError || original instanceof PothosValidationError || isDatabaseUnavailable(original));
}

export function clientError(formatted: GraphQLFormattedError, error: unknown, requestId: string | undefined): GraphQLFormattedError {
  const original = originalOf(error);
  if (original instanceof DomainError) {
    const code = original instanceof AuthenticationError ? 'UNAUTHENTICATED' : original.errorType === 'token-insufficient' ? 'FORBIDDEN' : original.errorType.toUpperCase().replace(/-/g, '_');
    return { ...formatted, extensions: { ...formatted.extensions, code, errorType: original.errorType } };
  }
  if (isDatabaseUnavailable(original)) {
    return { message: 'the database is unavailable; retry shortly', path: formatted.path, extensions: { code: 'SERVICE_UNAVAILABLE' } };
  }
  const column = tooLongColumn(original);
  if (column) {
    // A length no domain rule checked: the client's mistake (logged as unexpected all the same).
    return { message: `a value is too long (${column})`, path: formatted.path, locations: formatted.locations, extensions: { code: 'BAD_USER_INPUT' } };
  }
  if (original instanceof PothosValidationError) {
    return { message: original.message, path: formatted.path, locations: formatted.locations, extensions: { code: 'BAD_USER_INPUT' } };
  }
  if (original instanceof GraphQLError) {
    // Apollo's request-level refusals (a persisted query whose sha does not match, ...) carry a
    // 4xx status but no code, and Apollo fills in INTERNAL_SERVER_ERROR: the client's mistake
    // would read as fmd's failure.
    const status = (original.extensions?.http as { status?: unknown } | undefined)?.status;
    if (original.extensions?.code === undefined && formatted.extensions?.code === 'INTERNAL_SERVER_ERROR' && typeof status === 'number' && status >= 400 && status < 500) {
      return { ...formatted, extensions: { ...formatted.extensions, code: 'BAD_REQUEST' } };
    }
    return formatted;
  }
  const id = requestId ? ` (request id ${requestId})` : '';
  return {
    message: `internal error${id}`,
    path: formatted.path,
    locations: formatted.locations,
    extensions: { code: 'INTERNAL_SERVER_ERROR', ...(requestId ? { requestId } : {}) },
  };
}

/** Logs the errors of one operation: unexpected ones with their stack, the others briefly. */
export function logErrors(log: Logger, errors: readonly unknown[], requestId: string, operationName?: string | null): void {
  for (const error of errors) {
    const path = (error as { path?: unknown }).path;
    if (isUnexpected(error)) {
      log.error({ err: originalOf(error), requestId, path, operationName }, 'GraphQL operation failed');
    } else {
      log.debug({ requestId, path, operationName, message: (error as Error).message }, 'GraphQL error answered');
    }
  }
}
