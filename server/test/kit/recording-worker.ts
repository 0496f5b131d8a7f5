// A job worker process (like `fmd worker`) whose `prune` handler is replaced by one that
// sleeps `ms` and returns when it ran and in which process: the engine's per-repo serialization
// across processes is then observable from the jobs' results. Prints "ready" once it takes jobs.
import { pino } from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { resolveSecret } from '../../src/config/secret.ts';
import { openDatabase } from '../../src/db/index.ts';
import { createServices } from '../../src/services.ts';

const config = loadConfig();
const log = pino({ level: 'warn' });
const db = await openDatabase(config, log, { owner: false, migrate: false });
const services = await createServices(config, db, log, resolveSecret(config));
services.jobEngine.define('prune', {
  recovery: 'requeue',
  async handler(run) {
    const start = Date.now();
    await new Promise((r) => setTimeout(r, Number(process.env.RECORDING_MS ?? 400)));
    return { repo: run.contents.repo, start, end: Date.now(), pid: process.pid };
  },
});
await services.jobEngine.startWorker();
console.log('ready');
process.on('SIGTERM', () => {
  void (async () => {
    await services.close();
    await db.close();
    process.exit(0);
  })();
});
