// Agenda's persistent lifecycle log (agenda.getLogs(), agendash) in a MariaDB table.
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { JobLogEntry, JobLogEvent, JobLogger, JobLogQuery, JobLogQueryResult, LogLevel } from 'agenda';
import { checkTableName } from './schema.ts';
import { toDate } from './rows.ts';
import type { Where } from './filters.ts';

export type MariaDbJobLoggerOptions = { pool: () => Pool; tableName?: string };

export class MariaDbJobLogger implements JobLogger {
  readonly tableName: string;
  private readonly getPool: () => Pool;
  private readonly t: string;

  constructor(options: MariaDbJobLoggerOptions) {
    this.tableName = checkTableName(options.tableName ?? 'agenda_job_logs');
    this.getPool = options.pool;
    this.t = `\`${this.tableName}\``;
  }

  async log(entry: Omit<JobLogEntry, '_id'>): Promise<void> {
    await this.getPool().query(
      `INSERT INTO ${this.t} (timestamp, level, event, job_id, job_name, message, duration, error, fail_count,
         retry_delay, retry_attempt, agenda_name, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        entry.timestamp,
        entry.level,
        entry.event,
        entry.jobId ?? null,
        entry.jobName,
        entry.message,
        entry.duration ?? null,
        entry.error ?? null,
        entry.failCount ?? null,
        entry.retryDelay ?? null,
        entry.retryAttempt ?? null,
        entry.agendaName ?? null,
        entry.meta ? JSON.stringify(entry.meta) : null,
      ],
    );
  }

  async getLogs(query?: JobLogQuery): Promise<JobLogQueryResult> {
    const where = this.where(query);
    const dir = query?.sort === 'asc' ? 'ASC' : 'DESC';
    const limit = Number(query?.limit ?? 50);
    const offset = Number(query?.offset ?? 0);
    const pool = this.getPool();
    const [[rows], [count]] = await Promise.all([
      pool.query<RowDataPacket[]>(
        `SELECT * FROM ${this.t} WHERE ${where.sql} ORDER BY timestamp ${dir}, id ${dir} LIMIT ${limit} OFFSET ${offset}`,
        where.params,
      ),
      pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${this.t} WHERE ${where.sql}`, where.params),
    ]);
    const entries: JobLogEntry[] = rows.map((r) => ({
      _id: String(r.id),
      timestamp: toDate(r.timestamp) as Date,
      level: r.level as LogLevel,
      event: r.event as JobLogEvent,
      jobId: r.job_id ?? undefined,
      jobName: r.job_name,
      message: r.message,
      duration: r.duration ?? undefined,
      error: r.error ?? undefined,
      failCount: r.fail_count ?? undefined,
      retryDelay: r.retry_delay ?? undefined,
      retryAttempt: r.retry_attempt ?? undefined,
      agendaName: r.agenda_name ?? undefined,
      meta: r.meta ? (typeof r.meta === 'string' ? JSON.parse(r.meta) : r.meta) : undefined,
    }));
    return { entries, total: Number(count[0]?.n ?? 0) };
  }

  async clearLogs(query?: JobLogQuery): Promise<number> {
    const where = this.where(query);
    const [res] = await this.getPool().query(`DELETE FROM ${this.t} WHERE ${where.sql}`, where.params);
    return (res as { affectedRows: number }).affectedRows;
  }

  private where(query: JobLogQuery | undefined): Where {
    const sql: string[] = ['TRUE'];
    const params: unknown[] = [];
    const oneOrMany = (column: string, v: string | string[] | undefined) => {
      if (v === undefined) return;
      const list = Array.isArray(v) ? v : [v];
      if (!list.length) return;
      sql.push(`${column} IN (${list.map(() => '?').join(', ')})`);
      params.push(...list);
    };
    if (query?.jobId) oneOrMany('job_id', query.jobId);
    if (query?.jobName) oneOrMany('job_name', query.jobName);
    oneOrMany('level', query?.level);
    oneOrMany('event', query?.event);
    if (query?.from) (sql.push('timestamp >= ?'), params.push(query.from));
    if (query?.to) (sql.push('timestamp <= ?'), params.push(query.to));
    return { sql: sql.join(' AND '), params };
  }
}
