// The HTTP server: one port for GraphQL (HTTP + WebSocket), the flat-manager REST API,
// repo files, metrics and health checks.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import express, { type ErrorRequestHandler } from 'express';
import cors from 'cors';
import type { Services } from '../services.ts';
import { createGraphQLEndpoint, graphqlPath } from './graphql.ts';
import { createRepoFilesRouter } from './repo-files.ts';
import { DomainError } from '../domain/errors.ts';
import { isDatabaseUnavailable } from '../db/index.ts';
import { adminJobsPath, adminJobsRouter } from './admin-jobs.ts';
import { apiV1Path, createApiV1Router } from './api-v1/index.ts';
import { buildRepoPath, createBuildRepoRouter } from './build-repo.ts';

export type HttpServer = {
  server: Server;
  url: string;
  port: number;
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
  const server = createServer({ shouldUpgradeCallback: (req) => req.headers.upgrade?.toLowerCase() === 'websocket' }, app);
  const { metrics } = services;
  let shuttingDown = false;

  app.use(metrics.middleware);
  app.use(
    cors({
      origin: config.corsOrigins.includes('*') ? true : config.corsOrigins,
      credentials: false,
      allowedHeaders: ['authorization', 'content-type', 'apollo-require-preflight', 'x-apollo-operation-name'],
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
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const graphql = await createGraphQLEndpoint(services, server);
  app.use(graphqlPath, express.json({ limit: config.maxRequestBytes }), graphql.middleware);

  app.use(adminJobsPath, adminJobsRouter(services));

  // Repo files for flatpak clients: /repo/<name>/<path> and /repo/<name>.flatpakrepo.
  app.use('/repo', createRepoFilesRouter(services));

  // flat-manager's REST API and build repos (test a build before publishing it).
  app.use(apiV1Path, createApiV1Router(services));
  app.use(buildRepoPath, createBuildRepoRouter(services));

  app.use((req, res) => {
    res.status(404).json({ status: 404, 'error-type': 'not-found', message: `no route for ${req.method} ${req.path}` });
  });
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    if (res.headersSent) return;
    const e = err as { status?: number; type?: string; message?: string };
    if (err instanceof DomainError) {
      res.status(err.httpStatus).json({ status: err.httpStatus, 'error-type': err.errorType, message: err.message });
    } else if (isDatabaseUnavailable(err)) {
      res.status(503).set('retry-after', '5').json({ status: 503, 'error-type': 'generic-error', message: 'the database is unavailable; retry shortly' });
    } else if (e.type === 'entity.too.large') {
      res.status(413).json({ status: 413, 'error-type': 'generic-error', message: `request body larger than ${config.maxRequestBytes} bytes` });
    } else if (e.type === 'entity.parse.failed') {
      res.status(400).json({ status: 400, 'error-type': 'generic-error', message: `request body is not valid JSON: ${e.message}` });
    } else {
      log.error({ err, path: req.path }, 'request failed');
      res.status(500).json({ status: 500, 'error-type': 'generic-error', message: 'internal error' });
    }
  };
  app.use(onError);

  // Track sockets so shutdown can close idle keep-alive connections and wait for busy ones.
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.requestTimeout = 0; // uploads and log streams may be long; idle sockets still time out
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;

  return {
    server,
    url,
    port,
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
    },
  };
}
