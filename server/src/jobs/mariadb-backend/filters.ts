// WHERE and ORDER BY fragments shared by the repository's queries. Values always travel as
// parameters; only column names from fixed maps reach the SQL text.
import type { JobsSort, RemoveJobsOptions, SortDirection } from 'agenda';
import { JOB_COLUMNS } from './rows.ts';

export type Where = { sql: string; params: unknown[] };

function strings(list: unknown[] | undefined): string[] {
  return (list ?? []).filter((v): v is string => typeof v === 'string' || typeof v === 'number').map(String);
}

function inList(column: string, values: string[], negate = false): Where {
  return { sql: `${column} ${negate ? 'NOT IN' : 'IN'} (${values.map(() => '?').join(', ')})`, params: values };
}

/**
 * `data @> filter` of the PostgreSQL backend: partial match of objects, arrays by containment.
 * An integer `jobId` in the filter also selects through the indexed data_job_id column.
 */
export function dataContains(data: unknown): Where {
  const contains = { sql: 'JSON_CONTAINS(data, ?)', params: [JSON.stringify(data)] };
  const jobId = (data as { jobId?: unknown } | null)?.jobId;
  return Number.isSafeInteger(jobId) ? and([{ sql: 'data_job_id = ?', params: [String(jobId)] }, contains]) : contains;
}

/** The selection of removeJobs/disableJobs/enableJobs; null when nothing selects (acts on no job). */
export function jobSelection(options: RemoveJobsOptions): Where | null {
  const parts: Where[] = [];
  if (options.id) parts.push({ sql: 'id = ?', params: [String(options.id)] });
  else if (options.ids?.length) parts.push(inList('id', strings(options.ids)));

  if (options.name) parts.push({ sql: 'name = ?', params: [options.name] });
  else if (options.names?.length) parts.push(inList('name', strings(options.names)));
  else if (options.notNames?.length) parts.push(inList('name', strings(options.notNames), true));

  if (options.data !== undefined) parts.push(dataContains(options.data));
  return parts.length ? and(parts) : null;
}

export function and(parts: Where[]): Where {
  return { sql: parts.map((p) => `(${p.sql})`).join(' AND '), params: parts.flatMap((p) => p.params) };
}

function dir(d: SortDirection): 'ASC' | 'DESC' {
  return d === 'asc' ? 'ASC' : 'DESC';
}

// MariaDB sorts NULL first ascending; the other backends put NULLs last either way.
function nullsLast(column: string, d: SortDirection): string {
  return `${column} IS NULL, ${column} ${dir(d)}`;
}

export function orderBy(sort: JobsSort | undefined): string {
  const parts: string[] = [];
  if (sort?.nextRunAt) parts.push(nullsLast('next_run_at', sort.nextRunAt));
  if (sort?.lastRunAt) parts.push(nullsLast('last_run_at', sort.lastRunAt));
  if (sort?.lastFinishedAt) parts.push(nullsLast('last_finished_at', sort.lastFinishedAt));
  if (sort?.priority) parts.push(`priority ${dir(sort.priority)}`);
  if (sort?.name) parts.push(`name ${dir(sort.name)}`);
  if (!parts.length) parts.push(nullsLast('next_run_at', 'desc'), nullsLast('last_run_at', 'desc'));
  // A stable tie-break keeps skip/limit pages from overlapping.
  parts.push('id');
  return parts.join(', ');
}

/** JSON path for `data.a.b`: each key quoted, so keys cannot inject path syntax. */
function jsonPath(dotted: string): string {
  return '$' + dotted.split('.').map((k) => `.${JSON.stringify(k)}`).join('');
}

/**
 * The `unique` constraint of a job: `data.<path>` keys compare the value at that path as text
 * (as `data->>'path' = $n` does on PostgreSQL); other keys must name a job field.
 */
export function uniqueSelection(name: string, unique: Record<string, unknown>): Where {
  const parts: Where[] = [{ sql: 'name = ?', params: [name] }];
  for (const [key, value] of Object.entries(unique)) {
    if (key.startsWith('data.')) {
      parts.push({ sql: 'JSON_UNQUOTE(JSON_EXTRACT(data, ?)) = ?', params: [jsonPath(key.slice(5)), String(value)] });
    } else {
      const column = JOB_COLUMNS[key];
      if (!column) throw new Error(`unique constraint on unknown job field ${JSON.stringify(key)}`);
      parts.push({ sql: `${column} = ?`, params: [value instanceof Date || typeof value !== 'object' ? value : JSON.stringify(value)] });
    }
  }
  return and(parts);
}
