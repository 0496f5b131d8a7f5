export { createFmdClient, graphqlEndpoint, FmdRequestError, accessTokenExpiry, needsRefresh, isExpiredTokenError, sessionRefreshMarginMs, type FmdSession, type FmdSessionTokens, type ConnectionChange, type FmdClient, type FmdClientOptions, type FmdOperations, type FmdRequestOptions } from './client.ts';
export { isErrorResult, isResult, type ErrorResult, type ErrorOf, type PayloadOf } from './results.ts';
export { allNodes, type ConnectionPage } from './pagination.ts';
export * from './generated/graphql.ts';
export { formatDuration, parseDelay, parseDuration } from './duration.ts';
