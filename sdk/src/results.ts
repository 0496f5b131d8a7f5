// Mutations answer a union of a payload and typed errors (`Error { message errorType }`).

/** A typed error result of a mutation. */
export type ErrorResult = { __typename: string; message: string; errorType: string };

/** Narrows a mutation result to its error members. */
export function isErrorResult<T extends { __typename: string }>(result: T): result is Extract<T, ErrorResult> {
  return typeof (result as Partial<ErrorResult>).errorType === 'string';
}
