export { createFmdClient, graphqlEndpoint, FmdRequestError, type FmdClient, type FmdClientOptions, type FmdRequestOptions } from './client.ts';
export { isErrorResult, type ErrorResult } from './results.ts';
export * from './generated/graphql.ts';
