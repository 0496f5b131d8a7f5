// A private MariaDB under the data directory, used when no DATABASE_URL is configured.
// It listens on a unix socket only (no TCP) and is stopped when fmd stops.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { DatabaseTarget } from './connection.ts';

const execFileAsync = promisify(execFile);

export type EmbeddedMariaDb = {
  target: DatabaseTarget;
  socketPath: string;
  /** true when a server left running by a killed fmd was taken over */
  adopted: boolean;
  stop(): Promise<void>;
  /** immediate SIGKILL, for an exiting process that cannot wait (tests) */
  kill(): void;
};

type Log = { info(msg: string): void; warn(msg: string): void };

function findBinary(name: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(
    `embedded database: ${name} not found. Install MariaDB (apt-get install mariadb-server) or set DATABASE_URL.`,
  );
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function canConnect(socketPath: string, user: string): Promise<boolean> {
  try {
    const c = await mysql.createConnection({ socketPath, user, connectTimeout: 1000 });
    await c.end();
    return true;
  } catch {
    return false;
  }
}

export async function startEmbeddedMariaDb(
  dataDir: string,
  database: string,
  log: Log,
  timeoutMs = 60_000,
): Promise<EmbeddedMariaDb> {
  const dir = path.join(dataDir, 'mariadb');
  const datadir = path.join(dir, 'data');
  const socketPath = path.join(dir, 'mysqld.sock');
  const pidFile = path.join(dir, 'mysqld.pid');
  const logFile = path.join(dir, 'error.log');
  // unix_socket auth maps the OS user to a MariaDB user of the same name.
  const user = os.userInfo().username;
  const target: DatabaseTarget = { socketPath, user, database };
  if (socketPath.length > 100) {
    throw new Error(`embedded database: socket path ${socketPath} is too long for a unix socket; use a shorter data dir`);
  }

  // A server left behind by an fmd that was killed: take it over rather than fight it.
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (pid && pidAlive(pid) && (await canConnect(socketPath, user))) {
      log.warn(`embedded MariaDB (pid ${pid}) was still running; reusing it`);
      return { target, socketPath, adopted: true, stop: () => stopPid(pid, socketPath), kill: () => process.kill(pid, 'SIGKILL') };
    }
  }

  mkdirSync(dir, { recursive: true });
  if (!existsSync(path.join(datadir, 'mysql'))) {
    log.info(`initialising embedded MariaDB in ${datadir}`);
    rmSync(datadir, { recursive: true, force: true });
    mkdirSync(datadir, { recursive: true });
    const args = [
      '--no-defaults',
      `--datadir=${datadir}`,
      '--auth-root-authentication-method=socket',
      '--skip-test-db',
      '--skip-name-resolve',
    ];
    if (process.getuid?.() === 0) args.push('--user=root');
    try {
      await execFileAsync(findBinary('mariadb-install-db'), args, { timeout: 120_000 });
    } catch (err) {
      rmSync(datadir, { recursive: true, force: true });
      const e = err as { stderr?: string; message: string };
      throw new Error(`embedded database: mariadb-install-db failed: ${e.stderr?.trim() || e.message}`);
    }
  }

  rmSync(socketPath, { force: true });
  const args = [
    '--no-defaults',
    `--datadir=${datadir}`,
    `--socket=${socketPath}`,
    '--skip-networking',
    `--pid-file=${pidFile}`,
    `--log-error=${logFile}`,
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
    '--innodb-buffer-pool-size=256M',
    '--max-connections=500',
    // fmd's data is re-creatable from repos on disk only in part; keep durability but avoid
    // an fsync per job-state write on slow disks.
    '--innodb-flush-log-at-trx-commit=2',
  ];
  if (process.getuid?.() === 0) args.push('--user=root');
  const child: ChildProcess = spawn(findBinary('mariadbd'), args, { stdio: 'ignore' });
  // The server keeps its process alive by itself; a test process must be able to end.
  child.unref();
  let exited = false;
  let exitCode: number | null = null;
  child.on('exit', (code) => {
    exited = true;
    exitCode = code;
  });

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
      throw new Error(`embedded database: mariadbd exited with code ${exitCode} during start-up. Log ${logFile}:\n${tail}`);
    }
    if (existsSync(socketPath) && (await canConnect(socketPath, user))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`embedded database: mariadbd not ready after ${timeoutMs} ms (log: ${logFile})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  log.info(`embedded MariaDB ready on ${socketPath}`);

  return {
    target,
    socketPath,
    adopted: false,
    kill() {
      if (!exited) child.kill('SIGKILL');
    },
    async stop() {
      if (exited) return;
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await done;
      clearTimeout(timer);
    },
  };
}

async function stopPid(pid: number, socketPath: string): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 30_000;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(socketPath, { force: true });
}
