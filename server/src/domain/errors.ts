// Expected failures of domain operations. They say what went wrong (an error type), not how
// a transport reports it: GraphQL exposes them as typed error results, and the HTTP boundary
// (http/errors.ts) maps each error type to a status and flat-manager's `{status, error-type,
// message}` JSON.

/** flat-manager's error-type values, plus fmd's additions. */
export type ErrorType =
  | 'invalid-token'
  | 'token-insufficient'
  | 'not-found'
  | 'wrong-repo-state'
  | 'wrong-published-state'
  | 'invalid-input'
  | 'conflict'
  /** the build is in use by a running job (flat-manager: "Can't prune build while in use") */
  | 'build-busy'
  /** the disk that holds uploads is (almost) full */
  | 'insufficient-storage'
  | 'unavailable'
  | 'generic-error';

export class DomainError extends Error {
  readonly errorType: ErrorType;
  constructor(errorType: ErrorType, message: string) {
    super(message);
    this.name = new.target.name;
    this.errorType = errorType;
  }
}

export type AuthFailure = 'missing' | 'malformed' | 'bad-signature' | 'expired' | 'revoked';

/** The request carries no usable token. */
export class AuthenticationError extends DomainError {
  readonly reason: AuthFailure;
  constructor(reason: AuthFailure, message: string) {
    super('invalid-token', message);
    this.reason = reason;
  }
}

export type SignInProblem = 'BAD_CREDENTIALS' | 'LOCKED' | 'DISABLED' | 'BAD_REFRESH_TOKEN' | 'BAD_INVITE';

/** A password sign-in, a session refresh or an invite was refused. */
export class SignInError extends DomainError {
  readonly reason: SignInProblem;
  readonly lockedUntil: Date | null;
  constructor(reason: SignInProblem, message: string, lockedUntil: Date | null = null) {
    super('invalid-token', message);
    this.reason = reason;
    this.lockedUntil = lockedUntil;
  }
}

/** The token is valid but does not grant this. */
export class ForbiddenError extends DomainError {
  readonly requiredScope: string | undefined;
  constructor(message: string, requiredScope?: string) {
    super('token-insufficient', message);
    this.requiredScope = requiredScope;
  }
}

export class NotFoundError extends DomainError {
  readonly entity: string;
  constructor(entity: string, id: string) {
    super('not-found', `${entity} ${id} not found`);
    this.entity = entity;
  }
}

export class InvalidInputError extends DomainError {
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super('invalid-input', message);
    this.field = field;
  }
}

/** The database or another dependency is down; the request may be retried. */
export class UnavailableError extends DomainError {
  constructor(message: string) {
    super('unavailable', message);
  }
}
