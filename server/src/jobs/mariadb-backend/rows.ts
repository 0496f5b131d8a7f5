// Conversion between Agenda's JobParameters and rows of the jobs table.
import { toJobId, type JobParameters } from 'agenda';

export type JobRow = {
  id: string;
  name: string;
  priority: number;
  next_run_at: Date | string | null;
  type: 'normal' | 'single';
  locked_at: Date | string | null;
  last_run_at: Date | string | null;
  last_finished_at: Date | string | null;
  failed_at: Date | string | null;
  fail_count: number | null;
  fail_reason: string | null;
  repeat_interval: string | null;
  repeat_timezone: string | null;
  repeat_at: string | null;
  data: string | null | object;
  disabled: number | boolean;
  progress: number | null;
  fork: number | boolean;
  last_modified_by: string | null;
  debounce_started_at: Date | string | null;
  start_date: Date | string | null;
  end_date: Date | string | null;
  skip_days: string | null;
};

/** Columns a caller may name in a `unique` constraint besides `data.<path>`. */
export const JOB_COLUMNS: Record<string, string> = {
  name: 'name',
  priority: 'priority',
  nextRunAt: 'next_run_at',
  type: 'type',
  lockedAt: 'locked_at',
  lastRunAt: 'last_run_at',
  lastFinishedAt: 'last_finished_at',
  failedAt: 'failed_at',
  failCount: 'fail_count',
  failReason: 'fail_reason',
  repeatInterval: 'repeat_interval',
  repeatTimezone: 'repeat_timezone',
  repeatAt: 'repeat_at',
  disabled: 'disabled',
  progress: 'progress',
  fork: 'fork',
  lastModifiedBy: 'last_modified_by',
  debounceStartedAt: 'debounce_started_at',
  startDate: 'start_date',
  endDate: 'end_date',
};

// A pool handed in with dateStrings would give strings; the tables hold UTC.
export function toDate(v: Date | string | null | undefined): Date | undefined {
  if (v == null) return undefined;
  if (v instanceof Date) return v;
  return new Date(v.includes('T') || v.endsWith('Z') ? v : `${v.replace(' ', 'T')}Z`);
}

function parseJson(v: string | null | object): unknown {
  if (v == null) return null;
  return typeof v === 'string' ? JSON.parse(v) : v;
}

export function rowToJob<DATA = unknown>(row: JobRow): JobParameters<DATA> {
  return {
    _id: toJobId(row.id),
    name: row.name,
    priority: row.priority,
    nextRunAt: toDate(row.next_run_at) ?? null,
    type: row.type,
    lockedAt: toDate(row.locked_at),
    lastRunAt: toDate(row.last_run_at),
    lastFinishedAt: toDate(row.last_finished_at),
    failedAt: toDate(row.failed_at),
    failCount: row.fail_count ?? undefined,
    failReason: row.fail_reason ?? undefined,
    repeatInterval: row.repeat_interval ?? undefined,
    repeatTimezone: row.repeat_timezone ?? undefined,
    repeatAt: row.repeat_at ?? undefined,
    data: parseJson(row.data) as DATA,
    disabled: Boolean(row.disabled),
    progress: row.progress ?? undefined,
    fork: Boolean(row.fork),
    lastModifiedBy: row.last_modified_by ?? undefined,
    debounceStartedAt: toDate(row.debounce_started_at),
    startDate: toDate(row.start_date),
    endDate: toDate(row.end_date),
    skipDays: row.skip_days ? (JSON.parse(row.skip_days) as number[]) : undefined,
  };
}

/** repeatInterval may be a number of ms; it is stored as text like the other backends do. */
function interval(v: string | number | undefined): string | null {
  return v === undefined || v === null || v === '' ? null : String(v);
}

function date(v: Date | string | undefined | null): Date | null {
  if (v == null) return null;
  return v instanceof Date ? v : new Date(v);
}

/** The columns saveJob writes, in the order of SAVE_COLUMNS. */
export function jobValues(job: JobParameters, lastModifiedBy: string | null): unknown[] {
  return [
    job.name,
    job.priority ?? 0,
    date(job.nextRunAt),
    job.type ?? 'normal',
    job.repeatTimezone || null,
    interval(job.repeatInterval),
    job.data === undefined ? null : JSON.stringify(job.data),
    job.repeatAt || null,
    job.disabled ? 1 : 0,
    job.fork ? 1 : 0,
    lastModifiedBy,
    job.failReason ?? null,
    job.failCount ?? null,
    date(job.failedAt),
    date(job.startDate),
    date(job.endDate),
    job.skipDays ? JSON.stringify(job.skipDays) : null,
  ];
}

export const SAVE_COLUMNS = [
  'name',
  'priority',
  'next_run_at',
  'type',
  'repeat_timezone',
  'repeat_interval',
  'data',
  'repeat_at',
  'disabled',
  'fork',
  'last_modified_by',
  'fail_reason',
  'fail_count',
  'failed_at',
  'start_date',
  'end_date',
  'skip_days',
] as const;

export function valuesToRow(id: string, values: unknown[], extra: Partial<JobRow> = {}): JobRow {
  const row: Record<string, unknown> = {
    id,
    locked_at: null,
    last_run_at: null,
    last_finished_at: null,
    progress: null,
    debounce_started_at: null,
  };
  SAVE_COLUMNS.forEach((c, i) => (row[c] = values[i]));
  return { ...(row as JobRow), ...extra };
}
