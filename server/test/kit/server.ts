// Starts fmd in this process on a free port with a fresh database and data dir.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { loadConfig, type FmdConfig } from '../../src/config/index.ts';
import { openDatabase } from '../../src/db/index.ts';
import { createServices, type Services } from '../../src/services.ts';
import { startHttpServer, type HttpServer } from '../../src/http/app.ts';
import { createTestDatabase } from './database.ts';

export type TestServer = {
  /** the test database, for other processes (workers) */
  dbUrl: string;
  url: string;
  wsUrl: string;
  config: FmdConfig;
  services: Services;
  http: HttpServer;
  adminToken: string;
  secret: string;
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<{ status: number; body: { data?: T; errors?: any } }>;
  stop(): Promise<void>;
};

export async function startTestServer(overrides: Parameters<typeof loadConfig>[1] = {}, opts: { log?: Logger } = {}): Promise<TestServer> {
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-test-'));
  const secret = typeof overrides.secret === 'string' ? overrides.secret : randomBytes(32).toString('base64');
  const config = loadConfig({}, { 'data-dir': dataDir, 'database-url': db.url, port: 0, secret, 'log-level': 'silent', 'token-usage-flush-ms': 50, 'job-poll-ms': 1000, 'job-lock-lifetime-ms': 5000, ...overrides });
  const log = opts.log ?? pino({ level: process.env.FMD_TEST_LOG ?? 'silent' });
  const database = await openDatabase(config, log, { owner: true });
  const services = await createServices(config, database, log, secret);
  const adminToken = (await services.users.bootstrapAdmin())!;
  if (config.jobWorkers > 0) await services.jobEngine.startWorker();
  const http = await startHttpServer(services, { host: '127.0.0.1', port: 0 });
  const gql: TestServer['gql'] = async (query, variables, token = adminToken) => {
    const res = await fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  // From here on the server's stop() drops the database (after its jobs are over).
  db.ownedByServer();
  return {
    dbUrl: db.url,
    url: http.url,
    wsUrl: `${http.url.replace(/^http/, 'ws')}/graphql`,
    config,
    services,
    http,
    adminToken,
    secret,
    gql,
    async stop() {
      await http.stop(1000);
      // Stops the job engine: it waits for the jobs this process runs (also those an earlier
      // stop(short timeout) left running) and their log writes, aborting the slow ones, so no job
      // writes to the database dropped below.
      await services.close();
      const engine = services.jobEngine;
      if (!engine.idle()) {
        // Left as it is (the embedded database goes when the process ends): dropping it now
        // would turn the job's next write into an error nobody can trace back to this file.
        throw new Error(`job handlers were still under way after the job engine stopped (jobs ${engine.runningJobs().join(', ') || 'none running yet'})`);
      }
      await database.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a truthy value, instead of sleeping. */
export async function pollFor<T>(check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`pollFor: condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits for a job to end; fails with its error if it broke. */
export async function jobEnded(s: Pick<TestServer, 'services'>, id: number, timeoutMs = 120_000): Promise<void> {
  const job = await pollFor(async () => {
    const j = await s.services.jobs.get(id);
    return j && (j.status === 'ENDED' || j.status === 'BROKEN') ? j : null;
  }, timeoutMs, 50);
  if (job.status === 'BROKEN') throw new Error(`job ${id} (${job.kind}) failed: ${job.error}`);
}
