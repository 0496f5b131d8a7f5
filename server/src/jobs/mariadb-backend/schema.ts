// The job store's tables. fmd creates them in a hand-written migration from jobStoreSchemaSql();
// ensureSchema is for standalone use and tests.
import type { Pool } from 'mysql2/promise';

const IDENTIFIER = /^[A-Za-z0-9_]{1,54}$/;

/** Table names end up in SQL text, so only plain identifiers are accepted. */
export function checkTableName(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`invalid job store table name: ${JSON.stringify(name)}`);
  return name;
}

/**
 * DDL for the jobs and the job lifecycle log tables (MariaDB >= 10.8: descending index keys).
 *
 * Index design: a `SELECT ... FOR UPDATE SKIP LOCKED` whose ORDER BY needs a filesort locks every
 * matching row, so each lock query walks one index in order and stops after one row:
 * - due, unlocked jobs of a name: `find_and_lock` (name, disabled, next_run_at, priority DESC),
 *   with `locked_at IS NULL` checked on the row. locked_at is deliberately not in this index:
 *   locking a job would otherwise move its entry, and under several workers the delete-marked
 *   entries (not yet purged while other transactions run) pile up at the front of the range
 *   every lock query walks, which made throughput collapse as the queue grew;
 * - jobs of a name whose lock expired: `lock_expiry` (name, disabled, locked_at);
 * - the Agenda jobs of an fmd job: `data_job_id`, a virtual column holding `data.jobId`, which a
 *   `data: { jobId }` selection uses (a text column, so any data a caller stores is accepted).
 * `single_name` is a stored generated column so that `type = 'single'` jobs are unique per name
 * (MariaDB has no partial unique indexes; NULLs do not collide).
 */
export function jobStoreSchemaSql(tableName = 'agenda_jobs', logTableName = 'agenda_job_logs'): string {
  return `${jobsTableSql(tableName)};\n\n${jobLogsTableSql(logTableName)};\n`;
}

export function jobsTableSql(tableName: string): string {
  const t = checkTableName(tableName);
  return `CREATE TABLE IF NOT EXISTS \`${t}\` (
  \`id\` CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  \`name\` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  \`priority\` INT NOT NULL DEFAULT 0,
  \`next_run_at\` DATETIME(3) NULL,
  \`type\` VARCHAR(10) NOT NULL DEFAULT 'normal',
  \`single_name\` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AS (IF(\`type\` = 'single', \`name\`, NULL)) STORED,
  \`locked_at\` DATETIME(3) NULL,
  \`last_run_at\` DATETIME(3) NULL,
  \`last_finished_at\` DATETIME(3) NULL,
  \`failed_at\` DATETIME(3) NULL,
  \`fail_count\` INT NULL,
  \`fail_reason\` TEXT NULL,
  \`repeat_interval\` VARCHAR(255) NULL,
  \`repeat_timezone\` VARCHAR(100) NULL,
  \`repeat_at\` VARCHAR(255) NULL,
  \`data\` LONGTEXT NULL CHECK (\`data\` IS NULL OR JSON_VALID(\`data\`)),
  \`data_job_id\` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AS (LEFT(JSON_VALUE(\`data\`, '$.jobId'), 64)) VIRTUAL,
  \`disabled\` BOOLEAN NOT NULL DEFAULT FALSE,
  \`progress\` DOUBLE NULL,
  \`fork\` BOOLEAN NOT NULL DEFAULT FALSE,
  \`last_modified_by\` VARCHAR(255) NULL,
  \`debounce_started_at\` DATETIME(3) NULL,
  \`start_date\` DATETIME(3) NULL,
  \`end_date\` DATETIME(3) NULL,
  \`skip_days\` VARCHAR(64) NULL,
  \`created_at\` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  \`updated_at\` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`${t}_single_name\` (\`single_name\`),
  KEY \`${t}_find_and_lock\` (\`name\`, \`disabled\`, \`next_run_at\`, \`priority\` DESC),
  KEY \`${t}_lock_expiry\` (\`name\`, \`disabled\`, \`locked_at\`),
  KEY \`${t}_next_run_at\` (\`next_run_at\`),
  KEY \`${t}_data_job_id\` (\`data_job_id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
}

/** Agenda's lifecycle events (start, success, fail, ...), not the output of fmd's jobs. */
export function jobLogsTableSql(logTableName: string): string {
  const l = checkTableName(logTableName);
  return `CREATE TABLE IF NOT EXISTS \`${l}\` (
  \`id\` BIGINT NOT NULL AUTO_INCREMENT,
  \`timestamp\` DATETIME(3) NOT NULL,
  \`level\` VARCHAR(10) NOT NULL,
  \`event\` VARCHAR(30) NOT NULL,
  \`job_id\` VARCHAR(255) NULL,
  \`job_name\` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  \`message\` TEXT NOT NULL,
  \`duration\` INT NULL,
  \`error\` TEXT NULL,
  \`fail_count\` INT NULL,
  \`retry_delay\` INT NULL,
  \`retry_attempt\` INT NULL,
  \`agenda_name\` VARCHAR(255) NULL,
  \`meta\` LONGTEXT NULL CHECK (\`meta\` IS NULL OR JSON_VALID(\`meta\`)),
  PRIMARY KEY (\`id\`),
  KEY \`${l}_timestamp\` (\`timestamp\`),
  KEY \`${l}_job_id\` (\`job_id\`, \`timestamp\`),
  KEY \`${l}_job_name\` (\`job_name\`, \`timestamp\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
}

/**
 * Creates the tables if missing. Several processes may start at once: the named lock makes them
 * take turns, and IF NOT EXISTS makes the later ones no-ops.
 */
export async function ensureTables(pool: Pool, statements: string[]): Promise<void> {
  const conn = await pool.getConnection();
  // Named locks are server-wide: scope it to this database.
  const lockName = "LEFT(CONCAT('agenda_schema:', DATABASE()), 64)";
  try {
    const [rows] = await conn.query(`SELECT GET_LOCK(${lockName}, 60) AS got`);
    if ((rows as Array<{ got: number | null }>)[0]?.got !== 1) {
      throw new Error('job store: timed out waiting for the schema lock');
    }
    try {
      for (const statement of statements) await conn.query(statement);
    } finally {
      await conn.query(`SELECT RELEASE_LOCK(${lockName})`);
    }
  } finally {
    conn.release();
  }
}
