// The HTTP server: one port for GraphQL (HTTP + WebSocket), the flat-manager REST API,
// repo files, metrics, health checks and the web dashboard.
import { isFmdAdmin } from '../domain/users/access.ts';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import express, { type RequestHandler } from 'express';
import cors from 'cors';
import type { Services } from '../services.ts';
import { createGraphQLEndpoint, graphqlPath } from './graphql.ts';
import { createRepoFilesRouter } from './repo-files.ts';
import { AuthenticationError, ForbiddenError } from '../domain/errors.ts';
import { hasScope } from '../domain/tokens/claims.ts';
import { errorHandler, notFoundHandler } from './errors.ts';
import { requestIdOf, withRequestId } from './request-id.ts';
import { jsonBody } from './body.ts';
import { tokenOf } from './auth.ts';
import { adminJobsPath, adminJobsRouter } from './admin-jobs.ts';
import { apiV1Path, createApiV1Router } from './api-v1/index.ts';
import { buildRepoPath, createBuildRepoRouter } from './build-repo.ts';
import { createWebRouter, playgroundRedirect } from './web.ts';
import { createRateLimits } from './rate-limits.ts';
import { restAudit } from './audit.ts';

export type HttpServer = {
  server: Server;
  url: string;
  port: number;
  /** where /metrics is served when `metrics-listen` gives it its own listener */
  metricsUrl: string | undefined;
  /** graceful: stop accepting, finish in-flight requests (up to `graceMs`), close WebSockets */
  stop(graceMs?: number): Promise<void>;
};

export async function startHttpServer(services: Services, opts: { host: string; port: number }): Promise<HttpServer> {
  const { config, log } = services;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  // Only WebSocket upgrades are upgrades: flatpak's libcurl asks for `Upgrade: h2c` on plain
  // http://, which the WebSocket server would otherwise answer with 400 instead of serving the file.
  //
  // A client has request-timeout-ms to send a whole request (headers-timeout-ms for the
  // headers), or it gets 408 and the connection is closed: a slow-loris client trickling a body
  // would otherwise hold its socket forever. Node checks these every connectionsCheckingInterval.
  const server = createServer(
    {
      shouldUpgradeCallback: (req) => req.headers.upgrade?.toLowerCase() === 'websocket',
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.requestTimeoutMs > 0 ? Math.min(config.headersTimeoutMs, config.requestTimeoutMs) : config.headersTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(Math.min(config.headersTimeoutMs, config.requestTimeoutMs || Infinity) / 4))),
    },
    app,
  );
  const { metrics } = services;
  let shuttingDown = false;
  // Authentication failures per client IP, uploads per token and IP (rate-limits.ts).
  const rateLimits = await createRateLimits(config, log);
  // The client IP of a WebSocket's upgrade request as express says it for HTTP (req.ip, under
  // the same `trust proxy` setting): express's request prototype over the raw request.
  const ipOf = (raw: IncomingMessage): string | undefined =>
    (Object.create(app.request, { headers: { value: raw.headers }, socket: { value: raw.socket }, connection: { value: raw.socket } }) as express.Request).ip;

  app.use((req, res, next) => {
    res.setHeader('x-request-id', requestIdOf(req));
    withRequestId(req, next);
  });
  app.use(metrics.middleware);
  app.use(
    cors({
      origin: config.corsOrigins.includes('*') ? true : config.corsOrigins,
      credentials: false,
      allowedHeaders: ['authorization', 'content-type', 'apollo-require-preflight', 'x-apollo-operation-name'],
      // so that a browser client can quote the request id of a failed request
      exposedHeaders: ['x-request-id'],
      maxAge: 600,
    }),
  );

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const database = await services.db.ping();
    const ready = database && !shuttingDown;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', database: database ? 'up' : 'down', shuttingDown });
  });
  if (!config.metricsListen) app.get('/metrics', metricsHandler(services, 'api-port'));

  // The API's path prefixes: what they do not answer is theirs to refuse, never a dashboard page.
  const apiPrefixes: string[] = [];
  const mountApi = (prefix: string, ...handlers: RequestHandler[]) => {
    apiPrefixes.push(prefix);
    app.use(prefix, ...handlers);
  };

  const graphql = await createGraphQLEndpoint(services, server, { rateLimits, ipOf });
  app.get(graphqlPath, playgroundRedirect);
  mountApi(graphqlPath, jsonBody(config.maxRequestBytes), graphql.middleware);

  // REST writes are recorded in the audit log (GraphQL mutations: graphql/audit.ts).
  mountApi(adminJobsPath, restAudit(services, adminJobsPath), adminJobsRouter(services));

  // Repo files for flatpak clients: /repo/<name>/<path> and /repo/<name>.flatpakrepo.
  mountApi('/repo', createRepoFilesRouter(services));

  // flat-manager's REST API and build repos (test a build before publishing it).
  mountApi(apiV1Path, restAudit(services, apiV1Path), createApiV1Router(services, rateLimits));
  mountApi(buildRepoPath, createBuildRepoRouter(services));

  // The web dashboard at /, after every API route.
  app.use(createWebRouter(config, apiPrefixes));

  app.use(notFoundHandler());
  app.use(errorHandler(log, rateLimits));

  // Track sockets so shutdown can close idle keep-alive connections and wait for busy ones.
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 65_000;

  const { url, port } = await listen(server, opts.host, opts.port);
  const metricsServer = config.metricsListen ? await startMetricsServer(config.metricsListen, metricsHandler(services, 'own-port'), log) : undefined;

  return {
    server,
    url,
    port,
    metricsUrl: metricsServer?.url,
    async stop(graceMs = 10_000) {
      shuttingDown = true;
      // Apollo's drain plugin closes the server, waits for in-flight operations (up to its grace
      // period) and closes WebSockets; whatever is left after graceMs is cut.
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      await graphql.stop();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
      clearTimeout(timer);
      await metricsServer?.stop();
      rateLimits.close();
    },
  };
}

/**
 * /metrics. Its series name repos, job kinds and error counts, so on the API port it is an
 * admin's: an API token with the admin scope, or the `metrics-token` when one is configured
 * (Prometheus' `authorization` / `bearer_token_file` scrape settings send it). On a listener of
 * its own (`metrics-listen`, an internal interface) it needs only the metrics-token, if any.
 */
function metricsHandler(services: Services, on: 'api-port' | 'own-port'): RequestHandler {
  const { config, metrics } = services;
  const expected = config.metricsToken ? Buffer.from(config.metricsToken) : null;
  const isMetricsToken = (token: string) => {
    const given = Buffer.from(token);
    return expected !== null && given.length === expected.length && timingSafeEqual(given, expected);
  };
  return async (req, res, next) => {
    try {
      if (on === 'api-port') {
        const token = tokenOf(req, config.tokenPrefix);
        if (!isMetricsToken(token)) {
          const viewer = await services.tokens.authenticate(token);
          if (!isFmdAdmin(viewer)) throw new ForbiddenError('metrics need a token with the admin scope (or the metrics token)', 'admin');
        }
      } else if (expected && !isMetricsToken(tokenOf(req, ''))) {
        throw new AuthenticationError('bad-signature', 'wrong metrics token');
      }
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  };
}

/** /metrics on a listener of its own (an internal interface, say), with the same error answers. */
async function startMetricsServer(at: { host: string; port: number }, serveMetrics: RequestHandler, log: Services['log']): Promise<{ url: string; stop(): Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    res.setHeader('x-request-id', requestIdOf(req));
    next();
  });
  app.get('/metrics', serveMetrics);
  app.use(notFoundHandler());
  app.use(errorHandler(log));
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, app);
  const { url } = await listen(server, at.host, at.port);
  return {
    url,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Listens on host:port (0: any free port) and says where clients reach the server. */
async function listen(server: Server, hostName: string, wanted: number): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(wanted, hostName, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : wanted;
  const host = hostName.includes(':') ? `[${hostName}]` : hostName;
  return { url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`, port };
}
