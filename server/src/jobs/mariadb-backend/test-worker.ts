// A worker process for the concurrency test and the throughput bench: one Agenda on the MariaDB
// backend (or, for the bench's comparison, @agendajs/postgres-backend), configured from the
// environment, printing READY once it processes jobs.
//   FMD_WORKER_DB            database URL (required)
//   FMD_WORKER_BACKEND       mariadb (default) or postgres: FMD_WORKER_DB is then a postgres:// URL
//                            and notifications are LISTEN/NOTIFY unless FMD_WORKER_NOTIFY=0
//   FMD_WORKER_ID            name recorded with each execution
//   FMD_WORKER_LOCK_LIFETIME ms (default 10 min), FMD_WORKER_PROCESS_EVERY ms (default 100)
//   FMD_WORKER_CONCURRENCY   jobs at once per job name (default 10)
//   FMD_WORKER_LOCK_LIMIT    jobs locked ahead per job name (default: the concurrency)
//   FMD_WORKER_REDIS         redis URL for notifications; FMD_WORKER_CHANNEL its channel name
import { Agenda } from 'agenda';
import type { AgendaBackend } from 'agenda';
import { PostgresBackend, type PostgresJobRepository } from '@agendajs/postgres-backend';
import { MariaDbBackend, poolFromUri, RedisNotificationChannel } from './index.ts';

const env = process.env;
const worker = env.FMD_WORKER_ID ?? String(process.pid);
const concurrency = Number(env.FMD_WORKER_CONCURRENCY ?? 10);

/** The backend, a query on its own database (SQL with `?` placeholders) and how to close it. */
function openStore(): { backend: AgendaBackend; query(sql: string, params: unknown[]): Promise<unknown>; close(): Promise<void> } {
  const url = env.FMD_WORKER_DB as string;
  if (env.FMD_WORKER_BACKEND === 'postgres') {
    // One extra connection for the LISTEN client, which the notification channel takes from this pool.
    const backend = new PostgresBackend({
      poolConfig: { connectionString: url, max: concurrency + 5 },
      disableNotifications: env.FMD_WORKER_NOTIFY === '0',
    });
    const pool = () => (backend.repository as PostgresJobRepository).getPool();
    return {
      backend,
      query: (sql, params) => {
        let n = 0;
        return pool().query(sql.replace(/\?/g, () => `$${++n}`), params);
      },
      close: () => (backend.repository as PostgresJobRepository).close(),
    };
  }
  const pool = poolFromUri(url, concurrency + 4);
  const channel = env.FMD_WORKER_REDIS
    ? new RedisNotificationChannel({ url: env.FMD_WORKER_REDIS, channelName: env.FMD_WORKER_CHANNEL })
    : undefined;
  const backend = new MariaDbBackend({ pool, notificationChannel: channel });
  return {
    backend,
    query: (sql, params) => pool.query(sql, params),
    // A poll that was under way still needs the pool, so it closes once the job store has settled.
    close: () => backend.repository.settled().finally(() => pool.end()),
  };
}

const { backend, query, close } = openStore();
const agenda = new Agenda({
  backend,
  name: worker,
  processEvery: Number(env.FMD_WORKER_PROCESS_EVERY ?? 100),
  defaultConcurrency: concurrency,
  defaultLockLimit: Number(env.FMD_WORKER_LOCK_LIMIT ?? concurrency),
  maxConcurrency: concurrency * 4,
  defaultLockLifetime: Number(env.FMD_WORKER_LOCK_LIFETIME ?? 600_000),
});
agenda.on('error', (err) => console.error(`worker ${worker}:`, err));

const record = (jobId: unknown, event: string) =>
  query('INSERT INTO executions (job_id, worker, event) VALUES (?, ?, ?)', [String(jobId), worker, event]);

agenda.define('record', async (job) => {
  await record(job.attrs._id, 'run');
});
agenda.define('slow', async (job) => {
  await record(job.attrs._id, 'start');
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 250));
    await job.touch();
  }
  await record(job.attrs._id, 'done');
});
agenda.define('noop', async () => {});
agenda.define('latency', async (job) => {
  const ms = Date.now() - (job.attrs.data as { queuedAt: number }).queuedAt;
  await query('INSERT INTO bench_latency (ms) VALUES (?)', [ms]);
});

// drain() stops the timer but not a queue filling under way, which recurses as long as it locks
// jobs, and it waits without limit for running jobs; it also leaves jobs locked but not yet run
// locked for lockLifetime. So the lock queries stop first (polling), drain gets a bound, stop()
// hands back the locked jobs that did not start, and the store closes after its last statement.
// A second SIGTERM, or a close that hangs, exits anyway.
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) process.exit(1);
  stopping = true;
  if (backend instanceof MariaDbBackend) backend.repository.polling = false;
  setTimeout(() => process.exit(1), 30_000).unref();
  void agenda
    .drain({ timeout: 10_000, closeConnection: false })
    .catch(() => {})
    .then(() => agenda.stop(false).catch(() => {}))
    .finally(() => close().catch(() => {}).finally(() => process.exit(0)));
});

await agenda.start();
process.stdout.write('READY\n');
