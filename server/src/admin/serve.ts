// `fmd serve`: the server. Config, database (embedded by default), services, HTTP; it runs until
// SIGTERM or SIGINT, which drain it.
import { loadConfig, ConfigError } from '../config/index.ts';
import { resolveSecret } from '../config/secret.ts';
import { createLogger } from '../logger.ts';
import { openDatabase } from '../db/index.ts';
import { MigrationError } from '../db/migrate.ts';
import { createServices } from '../services.ts';
import { startHttpServer } from '../http/app.ts';
import { parseOptions } from './cli.ts';

export async function run(args: string[]): Promise<number | 'running'> {
  parseOptions(args, {});
  try {
    await serve();
    return 'running';
  } catch (err) {
    if (err instanceof MigrationError || err instanceof ConfigError) {
      if (err instanceof ConfigError) for (const p of err.problems) console.error(`fmd: config: ${p}`);
      else console.error(`fmd: ${err.message}`);
      return 2;
    }
    console.error('fmd: failed to start:', err instanceof Error ? err.message : err);
    return 1;
  }
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config);
  // A library promise nobody awaited must not take the whole server down.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  // A stop requested while starting is honoured once started, so the embedded MariaDB is
  // never left behind.
  let requested: string | null = null;
  const early = (signal: string) => () => {
    requested = signal;
  };
  process.once('SIGTERM', early('SIGTERM'));
  process.once('SIGINT', early('SIGINT'));
  const secret = resolveSecret(config);
  const started = Date.now();
  const db = await openDatabase(config, log, { owner: true });
  let services: Awaited<ReturnType<typeof createServices>> | undefined;
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  let adminToken: string | null;
  try {
    services = await createServices(config, db, log, secret);
    adminToken = await services.users.bootstrapAdmin();
    // With job-workers > 0 this process also runs jobs; `fmd worker` runs them elsewhere.
    if (config.jobWorkers > 0) await services.jobEngine.startWorker();
    http = await startHttpServer(services, { host: config.host, port: config.port });
  } catch (err) {
    // Never leave the embedded MariaDB behind when start-up fails.
    await services?.close().catch(() => undefined);
    await db.close();
    throw err;
  }
  log.info({ url: http.url, startupMs: Date.now() - started }, 'fmd is ready');

  // The human-facing lines go to stdout plainly, so the README command shows them.
  console.log(`\nfmd is running at ${http.url}  (GraphQL: ${http.url}/graphql)`);
  if (adminToken) {
    console.log('\nAdmin token (shown once; mint another with `npm run token -- --admin`):\n');
    console.log(`  ${adminToken}\n`);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, 60_000);
    force.unref();
    const t0 = Date.now();
    await http.stop();
    const t1 = Date.now();
    await services!.close();
    const t2 = Date.now();
    await db.close();
    log.info({ httpMs: t1 - t0, jobsMs: t2 - t1, databaseMs: Date.now() - t2 }, 'stopped');
    process.exit(0);
  };
  process.removeAllListeners('SIGTERM').removeAllListeners('SIGINT');
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  if (requested) await shutdown(requested);
}
