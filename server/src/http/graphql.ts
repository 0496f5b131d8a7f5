// GraphQL over HTTP (Apollo Server 5 on express 5) and over WebSocket (graphql-ws), sharing
// one schema, one auth path and one set of validation limits.
import type { Server as HttpServer } from 'node:http';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError, type GraphQLFormattedError, type ValidationRule } from 'graphql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import type { RequestHandler } from 'express';
import { buildSchema } from '../graphql/index.ts';
import { createContext, type GraphQLContext } from '../graphql/context.ts';
import type { Services } from '../services.ts';
import { AuthenticationError } from '../domain/errors.ts';
import { isDatabaseUnavailable } from '../db/index.ts';
import { rateLimited, resolveViewer, socketAuth, type SocketExtra } from './graphql-auth.ts';
import type { RateLimits } from './rate-limits.ts';
import type { IncomingMessage } from 'node:http';
import { createLimits } from '../graphql/limits.ts';
import { clientError, logErrors } from '../graphql/client-errors.ts';
import { requestIdOf } from './request-id.ts';

export const graphqlPath = '/graphql';

// Apollo's formatError gets no context: the request id of each error is noted when the
// errors are logged (didEncounterErrors runs first) and read back here.
const requestIdOfError = new WeakMap<object, string>();

function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  return clientError(formatted, error, typeof error === 'object' && error ? requestIdOfError.get(error) : undefined);
}

const errorLogPlugin = (services: Services): ApolloServerPlugin<GraphQLContext> => ({
  async requestDidStart() {
    return {
      async didEncounterErrors({ errors, contextValue, operationName }) {
        for (const e of errors) requestIdOfError.set(e, contextValue.requestId);
        logErrors(services.log, errors, contextValue.requestId, operationName);
      },
    };
  },
});

/** A resolver that failed because the database is down turns the whole response into a 503. */
const unavailableStatusPlugin: ApolloServerPlugin<GraphQLContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ response }) {
        if (response.body.kind !== 'single') return;
        const errors = response.body.singleResult.errors ?? [];
        if (errors.some((e) => e.extensions?.code === 'SERVICE_UNAVAILABLE')) {
          response.http.status = 503;
          response.http.headers.set('retry-after', '5');
        }
      },
    };
  },
};

export type GraphQLEndpoint = {
  middleware: RequestHandler;
  /** stops accepting operations and closes WebSocket clients */
  stop(): Promise<void>;
};

/**
 * `rateLimits` count rejected tokens per client IP (`ipOf` says it for a WebSocket's upgrade
 * request, as express's req.ip does for HTTP).
 */
export async function createGraphQLEndpoint(
  services: Services,
  httpServer: HttpServer,
  opts: { rateLimits?: RateLimits; ipOf?: (req: IncomingMessage) => string | undefined } = {},
): Promise<GraphQLEndpoint> {
  const schema = buildSchema();
  const { config } = services;
  const limits = createLimits(config);

  const wsServer = new WebSocketServer({ server: httpServer, path: graphqlPath, maxPayload: config.maxRequestBytes });
  const auth = socketAuth(services, opts.rateLimits, opts.ipOf);
  const wsCleanup = useServer<Record<string, unknown>, SocketExtra>(
    {
      schema,
      // connection_init carries the token; each operation checks it again (graphql-auth.ts).
      onConnect: auth.onConnect,
      context: auth.context,
      onOperation: auth.onOperation,
      // The same parse and validation limits as over HTTP, checked before anything runs; a
      // socket runs at most maxSubscriptionsPerSocket operations at once.
      onSubscribe: async (ctx, _id, payload) => {
        if (Object.keys(ctx.subscriptions).length > config.maxSubscriptionsPerSocket) {
          return [
            new GraphQLError(`too many operations on this connection: at most ${config.maxSubscriptionsPerSocket} at once`, {
              extensions: { code: 'TOO_MANY_OPERATIONS' },
            }),
          ];
        }
        const refused = await auth.authorizeOperation(ctx);
        if (refused) return refused;
        const checked = limits.check(schema, payload.query);
        if ('errors' in checked) return checked.errors; // sent (and logged) through onError
        // No contextValue here: graphql-ws then asks `context` for each operation, as before.
        return { schema, document: checked.document, operationName: payload.operationName, variableValues: payload.variables };
      },
      // Refusals before execution and errors that end a subscription.
      onError: (ctx, _id, payload, errors) => {
        const requestId = ctx.extra.session?.requestId;
        if (requestId) logErrors(services.log, errors, requestId, payload.operationName);
        return errors.map((e) => clientError(e.toJSON(), e, requestId));
      },
      // Execution errors travel in `next` messages, which onError never sees.
      onNext: (ctx, _id, payload, _args, result) => {
        if (!result.errors?.length) return;
        const requestId = ctx.extra.session!.requestId;
        logErrors(services.log, result.errors, requestId, payload.operationName);
        return { ...result, errors: result.errors.map((e) => clientError(e.toJSON(), e, requestId)) };
      },
    },
    wsServer,
  );

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    logger: services.log,
    validationRules: [...limits.validationRules, subscriptionsOverWebSocket],
    parseOptions: limits.parseOptions,
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    introspection: true,
    formatError,
    plugins: [
      // fmd sets no cache hints; the default cache-control plugin wraps every field's resolver
      // to collect them, a cost per field of every row of a list page.
      ApolloServerPluginCacheControlDisabled(),
      // No landing page: Apollo's loads its Sandbox from Apollo's CDN, with telemetry.
      ApolloServerPluginLandingPageDisabled(),
      errorLogPlugin(services),
      unavailableStatusPlugin,
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: 10_000 }),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsCleanup.dispose();
            },
          };
        },
      },
    ],
  });
  await apollo.start();
  // The glue between express and Apollo, as @as-integrations/express5 does it, minus its
  // per-request legacy url.parse() and express's ETag hashing of every response: this path
  // serves every GraphQL request, and those two cost more than fmd's own auth.
  const middleware: RequestHandler = async (req, res, next) => {
    try {
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const q = req.originalUrl.indexOf('?');
      const response = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method.toUpperCase(), headers, search: q >= 0 ? req.originalUrl.slice(q) : '', body: req.body },
        context: async () => {
          const { viewer, failure } = await resolveViewer(services, req.headers.authorization);
          if (failure && opts.rateLimits) {
            const limited = await opts.rateLimits.authFailure(req.ip).catch(() => null);
            if (limited) throw rateLimited(limited);
          }
          return { ...createContext(services, viewer, failure, requestIdOf(req), req.ip ?? null), userAgent: req.get('user-agent') ?? null };
        },
      });
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    } catch (err) {
      next(err);
    }
  };
  return {
    middleware,
    async stop() {
      await apollo.stop();
    },
  };
}

/**
 * Over HTTP a subscription cannot stream: refused with a clear error before it runs (GraphiQL, for
 * one, may post one before it has switched to its WebSocket).
 */
const subscriptionsOverWebSocket: ValidationRule = (context) => ({
  OperationDefinition(node) {
    if (node.operation === 'subscription') {
      context.reportError(new GraphQLError(`subscriptions run over WebSocket (the graphql-ws protocol at ${graphqlPath}), not over HTTP`, { nodes: [node] }));
    }
  },
});

