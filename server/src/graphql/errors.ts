// Typed error results: every expected failure of a mutation is a member of its result union.
import { builder } from './builder.ts';
import { DomainError, ForbiddenError, InvalidInputError, NotFoundError } from '../domain/errors.ts';

export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  description: 'An expected failure; `errorType` is the flat-manager error-type.',
  fields: (t) => ({
    message: t.exposeString('message'),
    errorType: t.exposeString('errorType'),
  }),
});

builder.objectType(ForbiddenError, {
  name: 'ForbiddenError',
  description: 'The token is valid but does not grant this.',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof ForbiddenError,
  fields: (t) => ({ requiredScope: t.exposeString('requiredScope', { nullable: true }) }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof NotFoundError,
  fields: (t) => ({ entity: t.exposeString('entity') }),
});

builder.objectType(InvalidInputError, {
  name: 'InvalidInputError',
  description: 'The input was rejected; `field` names the offending input field.',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof InvalidInputError,
  fields: (t) => ({ field: t.exposeString('field', { nullable: true }) }),
});

/** A domain read for a nullable field: a row that is gone is null, not an error. */
export async function orNull<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
}

/**
 * Runs a domain call whose request names fields as flat-manager does (`scope`, `duration`) and
 * names them in its InvalidInputError as the GraphQL input does (`scopes`, `durationSeconds`),
 * so that a client can show the error next to the field it sent.
 */
export async function withInputNames<T>(names: Record<string, string>, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof InvalidInputError && err.field && names[err.field]) throw new InvalidInputError(err.message, names[err.field]);
    throw err;
  }
}
