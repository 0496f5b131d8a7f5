// `fmd worker`: a process that only runs jobs. It needs the database the server uses:
// DATABASE_URL, or the same FMD_DATA_DIR as a running server with the embedded MariaDB.
import { loadConfig, ConfigError } from '../config/index.ts';
import { resolveSecret } from '../config/secret.ts';
import { createLogger } from '../logger.ts';
import { openDatabase } from '../db/index.ts';
import { createServices } from '../services.ts';
import { parseOptions } from './cli.ts';

export async function run(args: string[]): Promise<number | 'running'> {
  parseOptions(args, {});
  const config = loadConfig();
  const log = createLogger(config).child({ role: 'worker' });
  // A library promise nobody awaited must not take the worker down.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  if (config.jobWorkers === 0) throw new ConfigError(['job-workers: a worker needs job-workers > 0']);
  const db = await openDatabase(config, log, { owner: false, migrate: false });
  let services;
  try {
    services = await createServices(config, db, log, resolveSecret(config));
    await services.jobEngine.startWorker();
  } catch (err) {
    await services?.close().catch(() => undefined);
    await db.close();
    throw err;
  }
  log.info({ workers: config.jobWorkers, pid: process.pid }, 'worker running');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'worker draining');
    await services.close();
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return 'running';
}
