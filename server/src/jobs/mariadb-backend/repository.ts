// Agenda's JobRepository on MariaDB, method for method the behaviour of @agendajs/postgres-backend.
import { randomUUID, createHash } from 'node:crypto';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { computeJobState } from 'agenda';
import type {
  JobId,
  JobParameters,
  JobRepository,
  JobRepositoryOptions,
  JobsOverview,
  JobsQueryOptions,
  JobsResult,
  JobWithState,
  RemoveJobsOptions,
} from 'agenda';
import { and, dataContains, jobSelection, orderBy, uniqueSelection, type Where } from './filters.ts';
import { jobValues, rowToJob, SAVE_COLUMNS, toDate, valuesToRow, type JobRow } from './rows.ts';
import { checkTableName } from './schema.ts';

type Rows = JobRow[] & RowDataPacket[];

/** Columns an upsert of a 'single' job leaves as stored: its key, its failures, and next_run_at (decided apart). */
const SINGLE_KEEPS: readonly (typeof SAVE_COLUMNS)[number][] = ['name', 'type', 'next_run_at', 'fail_reason', 'fail_count', 'failed_at'];

export type MariaDbJobRepositoryOptions = {
  /** Resolved lazily so the backend can swap in a new pool after disconnect()/connect(). */
  pool: () => Pool;
  tableName?: string;
};

/** Due jobs read per lock attempt: others' concurrent lock attempts can take that many before this one gives up until its next poll. */
const DUE_CANDIDATES = 8;

export class MariaDbJobRepository implements JobRepository {
  readonly tableName: string;
  private readonly getPool: () => Pool;
  private readonly t: string;
  private readonly lockIndex: string;
  private readonly expiryIndex: string;
  /**
   * Statements under way: Agenda polls on a timer and saves a job after its handler returns, and
   * neither its stop() nor drain() waits for those.
   */
  private readonly inFlight = new Set<Promise<unknown>>();
  /**
   * False once the worker stopped: a poll of Agenda's already under way when it stopped (its
   * queue filling recurses without looking) then locks nothing more, so nothing is written after
   * the stop. Producers never poll, so enqueueing is unaffected.
   */
  polling = true;
  /**
   * Job names with a lock attempt under way. Agenda starts a queue filling on every processEvery
   * tick (and on each notification) without waiting for the one under way, and checks its lockLimit
   * before the lock query, counting only jobs already handed back. When lock queries take longer
   * than a tick, attempts pile up in the pool's queue, each then locks a job, and the ones beyond
   * the limit are unlocked behind all the others: with 10,000 queued jobs the bench saw 6,661 locked
   * and none run. One attempt per name at a time bounds that: the one under way recurses for more.
   * A call meanwhile (a tick, or a notification of a job its query may have missed) finds nothing
   * itself but has the attempt under way look once more, with its times, if that one found nothing.
   */
  private readonly locking = new Map<string, { nextScanAt: Date; lockDeadline: Date } | null>();

  constructor(options: MariaDbJobRepositoryOptions) {
    this.tableName = checkTableName(options.tableName ?? 'agenda_jobs');
    this.getPool = options.pool;
    this.t = `\`${this.tableName}\``;
    this.lockIndex = `\`${this.tableName}_find_and_lock\``;
    this.expiryIndex = `\`${this.tableName}_lock_expiry\``;
  }

  private get pool(): Pool {
    return this.getPool();
  }

  /** Resolves once no statement is under way: call it after stopping Agenda, before closing the pool. */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled(this.inFlight);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  /** The backend owns connecting (pool and schema); this only proves the database answers. */
  async connect(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  private async select(sql: string, params: unknown[] = []): Promise<JobRow[]> {
    const [rows] = await this.track(this.pool.query<Rows>(sql, params));
    return rows;
  }

  /** One statement; deadlocks and lock-wait timeouts (short on fmd's pools) are retried. */
  private execute(sql: string, params: unknown[] = []): Promise<number> {
    return this.track(this.executeWithRetries(sql, params));
  }

  private async executeWithRetries(sql: string, params: unknown[]): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const [res] = await this.pool.query<ResultSetHeader>(sql, params);
        return res.affectedRows;
      } catch (err) {
        if (attempt >= 10 || !isLockConflict(err)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
      }
    }
  }

  async getJobById(id: string): Promise<JobParameters | null> {
    const [row] = await this.select(`SELECT * FROM ${this.t} WHERE id = ?`, [String(id)]);
    return row ? rowToJob(row) : null;
  }

  async queryJobs(options: JobsQueryOptions = {}): Promise<JobsResult> {
    const { name, names, state, id, ids, search, data, includeDisabled = true, sort, skip = 0, limit = 0 } = options;
    const parts: Where[] = [];
    if (name) parts.push({ sql: 'name = ?', params: [name] });
    else if (names?.length) parts.push({ sql: `name IN (${names.map(() => '?').join(', ')})`, params: names });
    if (id) parts.push({ sql: 'id = ?', params: [id] });
    else if (ids?.length) parts.push({ sql: `id IN (${ids.map(() => '?').join(', ')})`, params: ids });
    // Case-insensitive substring like ILIKE, but the search text is literal (no wildcards).
    if (search) parts.push({ sql: "LOWER(name) LIKE CONCAT('%', LOWER(?), '%')", params: [search.replace(/[\\%_]/g, '\\$&')] });
    if (data !== undefined) parts.push(dataContains(data));
    if (!includeDisabled) parts.push({ sql: 'disabled = FALSE', params: [] });
    if (state === 'paused') parts.push({ sql: 'disabled = TRUE', params: [] });
    const where = parts.length ? and(parts) : { sql: 'TRUE', params: [] };
    const now = new Date();
    const withState = (row: JobRow): JobWithState => {
      const job = rowToJob(row);
      return { ...job, _id: job._id as JobId, state: computeJobState(job, now) };
    };

    // Every other state is computed from the row, so those filter and page in memory.
    if (!state || state === 'paused') {
      const page = limit > 0 ? ` LIMIT ${Number(limit)} OFFSET ${Number(skip)}` : skip > 0 ? ` LIMIT 18446744073709551615 OFFSET ${Number(skip)}` : '';
      const [rows, [count]] = await Promise.all([
        this.select(`SELECT * FROM ${this.t} WHERE ${where.sql} ORDER BY ${orderBy(sort)}${page}`, where.params),
        this.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${this.t} WHERE ${where.sql}`, where.params),
      ]);
      return { jobs: rows.map(withState), total: Number(count[0]?.n ?? 0) };
    }
    const all = (await this.select(`SELECT * FROM ${this.t} WHERE ${where.sql} ORDER BY ${orderBy(sort)}`, where.params))
      .map(withState)
      .filter((job) => job.state === state);
    const jobs = limit > 0 ? all.slice(skip, skip + limit) : all.slice(skip);
    return { jobs, total: all.length };
  }

  async getJobsOverview(): Promise<JobsOverview[]> {
    const now = new Date();
    const rows = await this.select(
      `SELECT name, locked_at, last_finished_at, failed_at, next_run_at, repeat_interval, disabled
       FROM ${this.t} ORDER BY name`,
    );
    const byName = new Map<string, JobsOverview>();
    for (const row of rows) {
      let o = byName.get(row.name);
      if (!o) {
        o = { name: row.name, total: 0, running: 0, scheduled: 0, queued: 0, completed: 0, failed: 0, repeating: 0, paused: 0 };
        byName.set(row.name, o);
      }
      const job = rowToJob({ ...row, id: '', data: null } as JobRow);
      o.total++;
      o[computeJobState(job, now)]++;
      if (job.disabled) o.paused++;
    }
    return [...byName.values()];
  }

  async getDistinctJobNames(): Promise<string[]> {
    const rows = await this.select(`SELECT DISTINCT name FROM ${this.t} ORDER BY name`);
    return rows.map((r) => r.name);
  }

  async getQueueSize(): Promise<number> {
    const [rows] = await this.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${this.t} WHERE next_run_at < ?`, [new Date()]);
    return Number(rows[0]?.n ?? 0);
  }

  async removeJobs(options: RemoveJobsOptions): Promise<number> {
    const where = jobSelection(options);
    return where ? this.execute(`DELETE FROM ${this.t} WHERE ${where.sql}`, where.params) : 0;
  }

  async disableJobs(options: RemoveJobsOptions): Promise<number> {
    const where = jobSelection(options);
    return where ? this.execute(`UPDATE ${this.t} SET disabled = TRUE WHERE ${where.sql}`, where.params) : 0;
  }

  async enableJobs(options: RemoveJobsOptions): Promise<number> {
    const where = jobSelection(options);
    return where ? this.execute(`UPDATE ${this.t} SET disabled = FALSE WHERE ${where.sql}`, where.params) : 0;
  }

  async purgeAllJobs(): Promise<number> {
    return this.execute(`DELETE FROM ${this.t}`);
  }

  /** A running one-off job has no nextRunAt; its lock stays until it finishes. */
  async unlockJob(job: JobParameters): Promise<void> {
    if (!job._id) return;
    // Agenda calls this without awaiting it: a failure must not become an unhandled rejection.
    // A lock left behind only delays the job until the lock expires.
    await this.execute(`UPDATE ${this.t} SET locked_at = NULL WHERE id = ? AND next_run_at IS NOT NULL`, [String(job._id)]).catch(() => 0);
  }

  async unlockJobs(jobIds: (JobId | string)[]): Promise<void> {
    if (!jobIds.length) return;
    await this.execute(`UPDATE ${this.t} SET locked_at = NULL WHERE id IN (${jobIds.map(() => '?').join(', ')})`, jobIds.map(String));
  }

  /** Locks exactly this job if it is still due as the caller saw it; one UPDATE on the primary key is atomic. */
  async lockJob(job: JobParameters, options: JobRepositoryOptions | undefined): Promise<JobParameters | undefined> {
    if (!job._id || !job.nextRunAt) return undefined;
    const changed = await this.execute(
      `UPDATE ${this.t} SET locked_at = ?, last_modified_by = ?
       WHERE id = ? AND name = ? AND locked_at IS NULL AND next_run_at = ? AND disabled = FALSE`,
      [new Date(), options?.lastModifiedBy || null, String(job._id), job.name, job.nextRunAt],
    );
    return changed === 1 ? ((await this.getJobById(String(job._id))) ?? undefined) : undefined;
  }

  /**
   * Finds and locks the next job of a name: a due unlocked one (next_run_at ASC, priority DESC) or
   * one whose lock expired. The OR of the PostgreSQL query is split in two lock queries so each walks
   * the find_and_lock index in order and locks one row; the better of the two candidates by the same
   * order wins, the other is released at commit. SKIP LOCKED never waits for another worker and never
   * returns a row another worker holds; READ COMMITTED avoids gap locks that would stall producers.
   * While this repository has an attempt for the name under way, another finds nothing (see locking).
   */
  async getNextJobToRun(
    jobName: string,
    nextScanAt: Date,
    lockDeadline: Date,
    now: Date | undefined,
    options: JobRepositoryOptions | undefined,
  ): Promise<JobParameters | undefined> {
    if (!this.polling) return undefined;
    if (this.locking.has(jobName)) {
      this.locking.set(jobName, { nextScanAt, lockDeadline });
      return undefined;
    }
    this.locking.set(jobName, null);
    try {
      let found = await this.lockNext(jobName, nextScanAt, lockDeadline, now, options);
      for (let again = this.locking.get(jobName); !found && again && this.polling; again = this.locking.get(jobName)) {
        this.locking.set(jobName, null);
        found = await this.lockNext(jobName, again.nextScanAt, again.lockDeadline, undefined, options);
      }
      return found;
    } finally {
      this.locking.delete(jobName);
    }
  }

  private lockNext(
    jobName: string,
    nextScanAt: Date,
    lockDeadline: Date,
    now: Date | undefined,
    options: JobRepositoryOptions | undefined,
  ): Promise<JobParameters | undefined> {
    const lockedAt = now ?? new Date();
    const lastModifiedBy = options?.lastModifiedBy || null;
    return this.transaction(async (conn) => {
      // Each query walks one index in order and stops after one row. The locking walk of the due
      // jobs is the fast path; on MariaDB 10.11 it sometimes skips due, unlocked rows (seen as the
      // first statement of its transaction, for as long as the job stayed queued), so when it finds
      // nothing a plain read of the due jobs confirms it, locking one of them by primary key.
      const [walked] = await conn.query<Rows>(
        `SELECT * FROM ${this.t} FORCE INDEX (${this.lockIndex})
         WHERE name = ? AND disabled = FALSE AND locked_at IS NULL AND next_run_at <= ?
         ORDER BY next_run_at ASC, priority DESC LIMIT 1 FOR UPDATE SKIP LOCKED`,
        [jobName, nextScanAt],
      );
      let due: JobRow | undefined = walked[0];
      if (!due) {
        const [candidates] = await conn.query<Rows>(
          `SELECT id FROM ${this.t} FORCE INDEX (${this.lockIndex})
           WHERE name = ? AND disabled = FALSE AND locked_at IS NULL AND next_run_at <= ?
           ORDER BY next_run_at ASC, priority DESC LIMIT ${DUE_CANDIDATES}`,
          [jobName, nextScanAt],
        );
        for (const { id } of candidates) {
          // A row another worker locks meanwhile is skipped, or no longer qualifies: try the next.
          const [rows] = await conn.query<Rows>(
            `SELECT * FROM ${this.t} WHERE id = ? AND disabled = FALSE AND locked_at IS NULL AND next_run_at <= ? FOR UPDATE SKIP LOCKED`,
            [id, nextScanAt],
          );
          if ((due = rows[0])) break;
        }
      }
      // Expired locks are rare: look without locking, then lock that one row by primary key if it
      // still qualifies. Walking the index with FOR UPDATE here deadlocked against lock releases.
      const [stale] = await conn.query<Rows>(
        `SELECT id FROM ${this.t} FORCE INDEX (${this.expiryIndex})
         WHERE name = ? AND disabled = FALSE AND locked_at <= ? ORDER BY locked_at ASC LIMIT 1`,
        [jobName, lockDeadline],
      );
      const [expired] = stale[0]
        ? await conn.query<Rows>(
            `SELECT * FROM ${this.t} WHERE id = ? AND disabled = FALSE AND locked_at <= ? FOR UPDATE SKIP LOCKED`,
            [stale[0].id, lockDeadline],
          )
        : [[] as unknown as Rows];
      const row = earlier(due, expired[0]);
      if (!row) return undefined;
      await conn.query(`UPDATE ${this.t} SET locked_at = ?, last_modified_by = ? WHERE id = ?`, [lockedAt, lastModifiedBy, row.id]);
      return rowToJob({ ...row, locked_at: lockedAt, last_modified_by: lastModifiedBy });
    });
  }

  async saveJobState(job: JobParameters, options: JobRepositoryOptions | undefined): Promise<void> {
    if (!job._id) throw new Error('Cannot save job state without job ID');
    // mysql2 sets CLIENT_FOUND_ROWS, so affectedRows counts matched rows, changed or not.
    const matched = await this.execute(
      `UPDATE ${this.t} SET locked_at = ?, next_run_at = ?, last_run_at = ?, progress = ?, fail_reason = ?,
         fail_count = ?, failed_at = ?, last_finished_at = ?, last_modified_by = ?
       WHERE id = ? AND name = ?`,
      [
        job.lockedAt || null,
        job.nextRunAt || null,
        job.lastRunAt || null,
        job.progress ?? null,
        job.failReason ?? null,
        job.failCount ?? null,
        job.failedAt || null,
        job.lastFinishedAt || null,
        options?.lastModifiedBy || null,
        String(job._id),
        job.name,
      ],
    );
    if (matched !== 1) {
      throw new Error(`job ${job._id} (name: ${job.name}) cannot be updated in the database, maybe it does not exist anymore?`);
    }
  }

  async saveJob<DATA = unknown>(job: JobParameters<DATA>, options: JobRepositoryOptions | undefined): Promise<JobParameters<DATA>> {
    const { _id, unique, uniqueOpts, ...props } = job;
    const lastModifiedBy = options?.lastModifiedBy || null;
    const values = jobValues(props as JobParameters, lastModifiedBy);

    if (_id) {
      await this.execute(
        `UPDATE ${this.t} SET ${SAVE_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE id = ? AND name = ?`,
        [...values, String(_id), props.name],
      );
      const [row] = await this.select(`SELECT * FROM ${this.t} WHERE id = ? AND name = ?`, [String(_id), props.name]);
      // A job removed meanwhile is handed back unchanged, as the other backends do.
      return row ? rowToJob<DATA>(row) : job;
    }

    if (props.type === 'single') return this.saveSingle<DATA>(props as JobParameters, values);
    if (unique) return this.saveUnique<DATA>(props as JobParameters, unique, uniqueOpts, lastModifiedBy);
    return this.insertOn<DATA>(this.pool, values, {});
  }

  /**
   * One job per name for type 'single' (every()), upserted on the single_name unique key. A due
   * nextRunAt does not overwrite the stored one, so restarting a process does not re-run a
   * repeating job early or skip its pending run.
   */
  private async saveSingle<DATA>(props: JobParameters, values: unknown[]): Promise<JobParameters<DATA>> {
    const protectNextRunAt = props.nextRunAt && props.nextRunAt <= new Date();
    const updates = SAVE_COLUMNS.filter((c) => !SINGLE_KEEPS.includes(c)).map((c) => `${c} = VALUES(${c})`);
    updates.push(protectNextRunAt ? 'next_run_at = COALESCE(next_run_at, VALUES(next_run_at))' : 'next_run_at = VALUES(next_run_at)');
    const columns = ['id', ...SAVE_COLUMNS];
    await this.execute(
      `INSERT INTO ${this.t} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})
       ON DUPLICATE KEY UPDATE ${updates.join(', ')}`,
      [randomUUID(), ...values],
    );
    const [row] = await this.select(`SELECT * FROM ${this.t} WHERE single_name = ?`, [props.name]);
    if (!row) throw new Error(`single job ${props.name} vanished right after its upsert`);
    return rowToJob<DATA>(row);
  }

  /**
   * Upsert by the job's unique constraint, with insertOnly and debounce. A named lock per
   * constraint makes the look-up and the write one step across processes (the PostgreSQL backend
   * races here: two concurrent saves can insert two jobs).
   */
  private async saveUnique<DATA>(
    props: JobParameters,
    unique: Record<string, unknown>,
    uniqueOpts: JobParameters['uniqueOpts'],
    lastModifiedBy: string | null,
  ): Promise<JobParameters<DATA>> {
    const where = uniqueSelection(props.name, unique);
    const lockName = 'agenda_unique:' + createHash('sha1').update(`${this.tableName}\0${props.name}\0${JSON.stringify(unique)}`).digest('hex');
    const conn = await this.pool.getConnection();
    try {
      const [got] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 30) AS got', [lockName]);
      if (got[0]?.got !== 1) throw new Error(`job ${props.name}: timed out waiting for the unique-constraint lock`);
      try {
        return await this.upsertUnique<DATA>(conn, props, where, uniqueOpts, lastModifiedBy);
      } finally {
        await conn.query('SELECT RELEASE_LOCK(?)', [lockName]);
      }
    } finally {
      conn.release();
    }
  }

  private async upsertUnique<DATA>(
    conn: PoolConnection,
    props: JobParameters,
    where: Where,
    uniqueOpts: JobParameters['uniqueOpts'],
    lastModifiedBy: string | null,
  ): Promise<JobParameters<DATA>> {
    const debounce = uniqueOpts?.debounce;
    const now = new Date();
    const [found] = await conn.query<Rows>(`SELECT * FROM ${this.t} WHERE ${where.sql} LIMIT 1`, where.params);
    const existing = found[0];

    if (!existing) {
      const values = jobValues(props, lastModifiedBy);
      if (!debounce) return this.insertOn<DATA>(conn, values, {});
      // Trailing: the first save opens the window; leading: it runs now and later saves only update data.
      if (debounce.strategy !== 'leading') values[SAVE_COLUMNS.indexOf('next_run_at')] = new Date(now.getTime() + debounce.delay);
      return this.insertOn<DATA>(conn, values, { debounce_started_at: now });
    }
    if (uniqueOpts?.insertOnly && !debounce) return rowToJob<DATA>(existing);

    let nextRunAt: Date | null = props.nextRunAt || null;
    let debounceStartedAt: Date | null = null;
    if (debounce) {
      const startedAt = rowToJob(existing).debounceStartedAt ?? now;
      if (debounce.strategy === 'leading') {
        nextRunAt = rowToJob(existing).nextRunAt;
        debounceStartedAt = startedAt;
      } else if (debounce.maxWait && now.getTime() - startedAt.getTime() >= debounce.maxWait) {
        nextRunAt = now;
      } else {
        nextRunAt = new Date(now.getTime() + debounce.delay);
        debounceStartedAt = startedAt;
      }
    }
    await conn.query(
      `UPDATE ${this.t} SET priority = ?, next_run_at = ?, type = ?, repeat_timezone = ?, repeat_interval = ?, data = ?,
         repeat_at = ?, disabled = ?, fork = ?, last_modified_by = ?, debounce_started_at = ?
       WHERE id = ?`,
      [
        props.priority ?? 0,
        nextRunAt,
        props.type ?? 'normal',
        props.repeatTimezone || null,
        props.repeatInterval == null || props.repeatInterval === '' ? null : String(props.repeatInterval),
        props.data === undefined ? null : JSON.stringify(props.data),
        props.repeatAt || null,
        props.disabled ? 1 : 0,
        props.fork ? 1 : 0,
        lastModifiedBy,
        debounceStartedAt,
        existing.id,
      ],
    );
    const [rows] = await conn.query<Rows>(`SELECT * FROM ${this.t} WHERE id = ?`, [existing.id]);
    return rowToJob<DATA>(rows[0] ?? existing);
  }

  private async insertOn<DATA>(conn: Pool | PoolConnection, values: unknown[], extra: Partial<JobRow>): Promise<JobParameters<DATA>> {
    const id = randomUUID();
    const columns = ['id', ...SAVE_COLUMNS, ...Object.keys(extra)];
    await conn.query(`INSERT INTO ${this.t} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, [
      id,
      ...values,
      ...Object.values(extra),
    ]);
    return rowToJob<DATA>(valuesToRow(id, values, extra));
  }

  /** Retries deadlocks and lock wait timeouts: InnoDB picks a victim, the lock attempt is safe to repeat. */
  private transaction<T>(work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    return this.track(this.transactionWithRetries(work));
  }

  private async transactionWithRetries<T>(work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transactionOnce(work);
      } catch (err) {
        if (attempt >= 10 || !isLockConflict(err)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
      }
    }
  }

  private async transactionOnce<T>(work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.pool.getConnection();
    try {
      await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await conn.beginTransaction();
      try {
        const result = await work(conn);
        await conn.commit();
        return result;
      } catch (err) {
        await conn.rollback().catch(() => {});
        throw err;
      }
    } finally {
      conn.release();
    }
  }
}

/** Deadlock (1213) or lock wait timeout (1205): the statement can simply be run again. */
function isLockConflict(err: unknown): boolean {
  const errno = (err as { errno?: number }).errno;
  return errno === 1213 || errno === 1205;
}

/** The order of the PostgreSQL lock query: next_run_at ascending with NULLs last, then priority descending. */
function earlier(a: JobRow | undefined, b: JobRow | undefined): JobRow | undefined {
  if (!a || !b) return a ?? b;
  const ta = toDate(a.next_run_at)?.getTime() ?? Infinity;
  const tb = toDate(b.next_run_at)?.getTime() ?? Infinity;
  if (ta !== tb) return ta < tb ? a : b;
  return b.priority > a.priority ? b : a;
}
