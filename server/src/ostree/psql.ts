// A typed wrapper over `psql` (Debian's postgresql-client), for reading flat-manager's PostgreSQL
// database. The URL is taken apart into libpq's environment variables so that its password never
// appears on a command line.
import { runTool, ToolError } from './exec.ts';

export class PsqlError extends Error {
  override readonly name = 'PsqlError';
}

/** libpq's environment for a `postgres://` / `postgresql://` URL. */
export function pgEnv(url: string): NodeJS.ProcessEnv {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PsqlError('not a URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new PsqlError(`not a PostgreSQL URL (${u.protocol}//)`);
  const env: NodeJS.ProcessEnv = { PGCONNECT_TIMEOUT: '10' };
  const dec = decodeURIComponent;
  if (u.hostname) env.PGHOST = dec(u.hostname.replace(/^\[|\]$/g, ''));
  if (u.port) env.PGPORT = u.port;
  if (u.username) env.PGUSER = dec(u.username);
  if (u.password) env.PGPASSWORD = dec(u.password);
  const db = dec(u.pathname.replace(/^\//, ''));
  if (db) env.PGDATABASE = db;
  // The query parameters libpq reads from URLs that matter here: a socket dir, TLS.
  const params: Record<string, string> = { host: 'PGHOST', port: 'PGPORT', user: 'PGUSER', sslmode: 'PGSSLMODE', sslrootcert: 'PGSSLROOTCERT' };
  for (const [k, v] of u.searchParams) if (params[k]) env[params[k]] = v;
  return env;
}

/** Runs one read query; rows of tab-separated fields (psql's unaligned output). */
export async function psqlQuery(url: string, sql: string): Promise<string[][]> {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...pgEnv(url) };
  try {
    const { stdout } = await runTool('psql', ['-X', '--no-password', '-v', 'ON_ERROR_STOP=1', '-A', '-t', '-F', '\t', '-c', sql], { env, timeoutMs: 60_000 });
    return stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.split('\t'));
  } catch (err) {
    if (err instanceof ToolError && err.reason === 'spawn') throw new PsqlError('psql is not installed (apt-get install postgresql-client)');
    if (err instanceof ToolError) throw new PsqlError(err.stderrTail.trim().split('\n').at(-1)?.replace(/^psql: (error: )?/, '') || err.message);
    throw err;
  }
}
