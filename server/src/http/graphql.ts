// GraphQL over HTTP (Apollo Server 5 on express 5) and over WebSocket (graphql-ws), sharing
// one schema, one auth path and one set of validation limits.
import type { Server as HttpServer } from 'node:http';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, specifiedRules, validate, type GraphQLFormattedError } from 'graphql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import type { RequestHandler } from 'express';
import { buildSchema } from '../graphql/index.ts';
import { createContext, type GraphQLContext } from '../graphql/context.ts';
import type { Services } from '../services.ts';
import { AuthenticationError, DomainError } from '../domain/errors.ts';
import { isDatabaseUnavailable } from '../db/index.ts';
import { TokenService, type Viewer } from '../domain/tokens/service.ts';

export const graphqlPath = '/graphql';

/** Resolves the viewer of a request; a bad token is remembered, not fatal, so public fields still answer. */
async function resolveViewer(services: Services, header: string | undefined): Promise<{ viewer: Viewer | null; failure: AuthenticationError | null }> {
  if (!header) return { viewer: null, failure: null };
  try {
    const token = TokenService.tokenFromHeader(header, services.config.tokenPrefix);
    return { viewer: await services.tokens.authenticate(token), failure: null };
  } catch (err) {
    if (err instanceof AuthenticationError) return { viewer: null, failure: err };
    if (isDatabaseUnavailable(err)) throw unavailable();
    throw err;
  }
}

function unavailable(): GraphQLError {
  return new GraphQLError('the database is unavailable; retry shortly', {
    extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503, headers: new Map([['retry-after', '5']]) } },
  });
}

function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = (error as { originalError?: unknown }).originalError ?? error;
  if (original instanceof DomainError) {
    const code = original instanceof AuthenticationError ? 'UNAUTHENTICATED' : original.errorType === 'token-insufficient' ? 'FORBIDDEN' : original.errorType.toUpperCase().replace(/-/g, '_');
    return { ...formatted, extensions: { ...formatted.extensions, code, errorType: original.errorType } };
  }
  if (isDatabaseUnavailable(original)) {
    return { message: 'the database is unavailable; retry shortly', path: formatted.path, extensions: { code: 'SERVICE_UNAVAILABLE' } };
  }
  return formatted;
}

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

export async function createGraphQLEndpoint(services: Services, httpServer: HttpServer): Promise<GraphQLEndpoint> {
  const schema = buildSchema();
  const { config } = services;
  const armor = new ApolloArmor({
    maxDepth: { n: config.maxQueryDepth, ignoreIntrospection: true },
    costLimit: { maxCost: config.maxQueryCost, ignoreIntrospection: true },
    maxAliases: { n: 30 },
    maxDirectives: { n: 50 },
    maxTokens: { n: 5000 },
    blockFieldSuggestion: { enabled: false },
  });
  const protection = armor.protect();

  const wsServer = new WebSocketServer({ server: httpServer, path: graphqlPath, maxPayload: config.maxRequestBytes });
  const wsCleanup = useServer<Record<string, unknown>, { ctx?: GraphQLContext }>(
    {
      schema,
      // connection_init carries the token: { authorization: "Bearer <jwt>" } (or `token`).
      onConnect: async (ctx) => {
        const p = ctx.connectionParams ?? {};
        const raw = (p.authorization ?? p.Authorization ?? (p.token ? `Bearer ${String(p.token)}` : undefined)) as string | undefined;
        const { viewer, failure } = await resolveViewer(services, raw);
        if (failure) return false; // closes with 4403 Forbidden: the token was rejected
        ctx.extra.ctx = createContext(services, viewer, null);
        return true;
      },
      context: (ctx) => ctx.extra.ctx!,
      validate: (s, document) => validate(s, document, [...specifiedRules, ...protection.validationRules]),
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(e.toJSON(), e)) as unknown as readonly GraphQLError[],
    },
    wsServer,
  );

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    validationRules: protection.validationRules,
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    introspection: true,
    formatError,
    plugins: [
      // graphql-armor is typed against Apollo's CommonJS build; the plugins are the same objects.
      ...(protection.plugins as unknown as ApolloServerPlugin<GraphQLContext>[]),
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
          return createContext(services, viewer, failure);
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
