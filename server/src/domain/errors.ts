// Expected failures of domain operations. GraphQL exposes them as typed error results;
// the flat-manager REST layer maps them to its `{status, error-type, message}` JSON.

/** flat-manager's error-type values, plus fmd's additions. */
export type ErrorType =
  | 'invalid-token'
  | 'token-insufficient'
  | 'not-found'
  | 'wrong-repo-state'
  | 'wrong-published-state'
  | 'invalid-input'
  | 'conflict'
  | 'unavailable'
  | 'generic-error';

export class DomainError extends Error {
  readonly errorType: ErrorType;
  readonly httpStatus: number;
  constructor(errorType: ErrorType, httpStatus: number, message: string) {
    super(message);
    this.name = new.target.name;
    this.errorType = errorType;
    this.httpStatus = httpStatus;
  }
}

export type AuthFailure = 'missing' | 'malformed' | 'bad-signature' | 'expired' | 'revoked';

/** The request carries no usable token (HTTP 401). */
export class AuthenticationError extends DomainError {
  readonly reason: AuthFailure;
  constructor(reason: AuthFailure, message: string) {
    super('invalid-token', 401, message);
    this.reason = reason;
  }
}

/** The token is valid but does not grant this (HTTP 403). */
export class ForbiddenError extends DomainError {
  readonly requiredScope: string | undefined;
  constructor(message: string, requiredScope?: string) {
    super('token-insufficient', 403, message);
    this.requiredScope = requiredScope;
  }
}

export class NotFoundError extends DomainError {
  readonly entity: string;
  constructor(entity: string, id: string) {
    super('not-found', 404, `${entity} ${id} not found`);
    this.entity = entity;
  }
}

export class InvalidInputError extends DomainError {
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super('invalid-input', 400, message);
    this.field = field;
  }
}

/** The database or another dependency is down; the request may be retried (HTTP 503). */
export class UnavailableError extends DomainError {
  constructor(message: string) {
    super('unavailable', 503, message);
  }
}
