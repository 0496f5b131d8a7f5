// Mutations answer a union of a payload and typed errors (`Error { message errorType }`): an
// expected failure (not found, wrong state, forbidden, ...) is a value with its own
// `__typename`, never an exception. These helpers narrow such a union.

/** A typed error result of a mutation. */
export type ErrorResult = { __typename: string; message: string; errorType: string };

/** The error members of a mutation result: `ErrorOf<CreateBuildMutation['createBuild']>`. */
export type ErrorOf<T extends { __typename: string }> = Extract<T, ErrorResult>;

/** The payload member(s) of a mutation result: `PayloadOf<CreateBuildMutation['createBuild']>`. */
export type PayloadOf<T extends { __typename: string }> = Exclude<T, ErrorResult>;

/** Narrows a mutation result to its error members. */
export function isErrorResult<T extends { __typename: string }>(result: T): result is ErrorOf<T> {
  return typeof (result as Partial<ErrorResult>).errorType === 'string';
}

/** Narrows a result to the member of that `__typename`: `isResult(r, 'WrongStateError')`. */
export function isResult<T extends { __typename: string }, N extends T['__typename']>(result: T, typename: N): result is Extract<T, { __typename: N }> {
  return result.__typename === typename;
}
