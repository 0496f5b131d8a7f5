// `fmd status`: what the job store knows about the processes and their work. API servers do not
// register anywhere, so the API is asked directly (/readyz); every process that runs jobs (a
// server with job-workers > 0, or `fmd worker`) writes a heartbeat row in build_workers every
// 10 s. A running job's process is the Agenda instance that locked it (`fmd-<pid>` in the job
// store's last_modified_by), matched to a heartbeat row (`host:pid:random`) by its pid.
import type { RowDataPacket } from 'mysql2/promise';
import { loadConfig, type FmdConfig } from '../config/index.ts';
import type { Database } from '../db/index.ts';
import { migrationStatus } from '../db/migrate.ts';
import { workerStaleMs } from '../domain/builds/git/workers.ts';
import { parseOptions, UsageError } from './cli.ts';
import { describeDatabase, openExisting, reason } from './database.ts';

function ago(at: Date, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - at.getTime()) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

const when = (at: Date) => `${at.toISOString().replace('T', ' ').slice(0, 19)} UTC (${ago(at)})`;

async function apiLine(url: string): Promise<string> {
  try {
    const res = await fetch(new URL('/readyz', url), { signal: AbortSignal.timeout(5000) });
    return res.ok ? `${url}: ready` : `${url}: answers but is not ready (/readyz ${res.status}: database unreachable or shutting down)`;
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return `${url}: not answering (${reason(cause ?? err)})`;
  }
}

function defaultUrl(config: FmdConfig): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

/** The process (Agenda instance name, `fmd-<pid>`) that holds the lock of each running fmd job. */
async function lockHolders(db: Database, jobIds: number[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  if (!jobIds.length) return out;
  const [rows] = await db.pool.query<RowDataPacket[]>(
    'SELECT data_job_id, last_modified_by FROM agenda_jobs WHERE data_job_id IN (?) AND locked_at IS NOT NULL',
    [jobIds.map(String)],
  );
  for (const r of rows) if (r.last_modified_by) out.set(Number(r.data_job_id), String(r.last_modified_by));
  return out;
}

export async function run(args: string[]): Promise<number> {
  // --url repeats: API servers do not register anywhere, so with several the operator names them.
  const { values } = parseOptions(args, { url: { type: 'string', multiple: true } });
  const bad = values.url?.find((u) => !URL.canParse(u));
  if (bad !== undefined) throw new UsageError(`bad URL ${JSON.stringify(bad)}`);
  const config = loadConfig();
  const now = Date.now();
  const urls = values.url?.length ? values.url : [config.baseUrl ?? defaultUrl(config)];
  const lines = await Promise.all(urls.map(apiLine));
  console.log(`API server${urls.length > 1 ? 's' : ''}\n${lines.map((l) => `  ${l}`).join('\n')}`);

  let db: Database;
  try {
    db = await openExisting(config);
  } catch (err) {
    console.error(`fmd status: cannot read the database ${describeDatabase(config)}: ${reason(err)}`);
    return 1;
  }
  try {
    const pending = (await migrationStatus(db.pool)).filter((m) => m.state !== 'applied' && m.state !== 'modified' && m.state !== 'unknown');
    if (pending.length) {
      console.log(`\nThe database ${describeDatabase(config)} is not migrated yet (${pending.length} migrations pending or failed: \`fmd migrate --status\`); nothing ran on it.`);
      return 0;
    }
    const workers = await db.prisma.buildWorker.findMany({ where: { seenAt: { gt: new Date(now - workerStaleMs) } }, orderBy: { id: 'asc' } });
    console.log(`\nProcesses running jobs (heartbeats of the last ${workerStaleMs / 1000} s): ${workers.length}`);
    for (const w of workers) {
      const arches = Array.isArray(w.arches) ? w.arches.join(',') : '';
      console.log(`  ${w.id}  arches ${arches}  git builds at once ${w.maxBuilds}  seen ${ago(w.seenAt, now)}`);
    }
    if (!workers.length) console.log('  none: queued jobs wait until a server with job-workers > 0 or an `fmd worker` runs');
    const workerByPid = new Map(workers.map((w) => [w.id.split(':').at(-2), w.id]));

    const queued = await db.prisma.job.groupBy({ by: ['kind'], where: { status: 'NEW' }, _count: { _all: true }, _min: { createdAt: true }, orderBy: { kind: 'asc' } });
    const later = await db.prisma.job.groupBy({ by: ['kind'], where: { status: 'NEW', startAfter: { gt: new Date(now) } }, _count: { _all: true }, orderBy: { kind: 'asc' } });
    const total = queued.reduce((n, q) => n + q._count._all, 0);
    console.log(`\nQueued jobs: ${total}`);
    for (const q of queued) {
      const l = later.find((x) => x.kind === q.kind)?._count._all ?? 0;
      console.log(`  ${q.kind.padEnd(12)} ${String(q._count._all).padStart(5)}${l ? ` (${l} due later)` : ''}  oldest queued ${when(q._min.createdAt!)}`);
    }

    const running = await db.prisma.job.findMany({ where: { status: 'STARTED' }, orderBy: { id: 'asc' } });
    const holders = config.jobsBackend === 'mariadb' ? await lockHolders(db, running.map((j) => j.id)) : new Map<number, string>();
    console.log(`\nRunning jobs: ${running.length}`);
    for (const j of running) {
      const holder = holders.get(j.id);
      const pid = holder?.replace(/^fmd-/, '');
      const by = holder ? (workerByPid.get(pid) ?? `${holder} (no heartbeat)`) : config.jobsBackend === 'mongo' ? 'unknown (mongo job store)' : 'no process holds it (it is taken over when its lock expires)';
      const what = [j.repo && `repo ${j.repo}`, j.buildId && `build ${j.buildId}`].filter(Boolean).join(' ');
      console.log(`  job ${j.id}  ${j.kind}${what ? `  ${what}` : ''}  started ${j.startedAt ? when(j.startedAt) : 'just now'}  on ${by}`);
    }

    const repos = await db.prisma.repo.findMany({ where: { status: 'ACTIVE' }, orderBy: { name: 'asc' }, select: { name: true } });
    console.log(`\nLast update-repo per repo: ${repos.length} repos`);
    const width = Math.max(0, ...repos.map((r) => r.name.length));
    for (const { name } of repos) {
      const j = await db.prisma.job.findFirst({ where: { kind: 'update-repo', repo: name }, orderBy: { id: 'desc' } });
      if (!j) {
        console.log(`  ${name.padEnd(width)}  never updated`);
        continue;
      }
      const result =
        j.status === 'ENDED' ? `succeeded ${when(j.finishedAt ?? j.updatedAt)}`
        : j.status === 'BROKEN' ? `failed ${when(j.finishedAt ?? j.updatedAt)}: ${(j.error ?? '').split('\n')[0]}`
        : j.status === 'STARTED' ? `running since ${when(j.startedAt ?? j.updatedAt)}`
        : `queued since ${when(j.createdAt)}`;
      console.log(`  ${name.padEnd(width)}  job ${j.id}  ${result}`);
    }
    return 0;
  } finally {
    await db.close();
  }
}
