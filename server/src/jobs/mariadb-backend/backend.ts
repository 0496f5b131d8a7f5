// Agenda's AgendaBackend for MariaDB: the job repository, the lifecycle logger and, optionally, a
// notification channel (in-process or Redis) so queued jobs start without waiting for a poll.
import type { Pool } from 'mysql2/promise';
import { createMysqlPool, parseDatabaseUrl } from '../../db/connection.ts';
import type { AgendaBackend, NotificationChannel } from 'agenda';
import { MariaDbJobRepository } from './repository.ts';
import { MariaDbJobLogger } from './logger.ts';
import { ensureTables, jobLogsTableSql, jobsTableSql } from './schema.ts';

export type MariaDbBackendOptions = {
  /** mysql://user:pass@host:port/db or mysql://user@localhost/db?socket=/path; the backend owns this pool. */
  uri?: string;
  /** A pool owned by the caller: neither disconnect() nor agenda.stop() closes it. */
  pool?: Pool;
  tableName?: string;
  logTableName?: string;
  /** Create the tables if missing (fmd creates them in a migration instead). */
  ensureSchema?: boolean;
  notificationChannel?: NotificationChannel;
};

/** A mysql2 pool for a URL (`?socket=` selects a unix socket), the same way fmd's DATABASE_URL is read. */
export function poolFromUri(uri: string, connectionLimit = 10): Pool {
  return createMysqlPool(parseDatabaseUrl(uri), connectionLimit);
}

export class MariaDbBackend implements AgendaBackend {
  readonly name = 'MariaDB';
  readonly repository: MariaDbJobRepository;
  readonly logger: MariaDbJobLogger;
  readonly notificationChannel: NotificationChannel | undefined;
  readonly ownsConnection: boolean;
  private readonly options: MariaDbBackendOptions;
  private pool: Pool | undefined;
  private connecting: Promise<void> | undefined;

  constructor(options: MariaDbBackendOptions) {
    if (!options.pool && !options.uri) throw new Error('MariaDbBackend needs a pool or a uri');
    this.options = options;
    this.ownsConnection = !options.pool;
    this.pool = options.pool;
    this.notificationChannel = options.notificationChannel;
    const pool = () => this.currentPool();
    this.repository = new MariaDbJobRepository({ pool, tableName: options.tableName });
    this.logger = new MariaDbJobLogger({ pool, tableName: options.logTableName });
  }

  private currentPool(): Pool {
    this.pool ??= poolFromUri(this.options.uri as string);
    return this.pool;
  }

  /** Agenda calls this from its constructor; callers may call it again: it runs once per connection. */
  connect(): Promise<void> {
    this.connecting ??= (async () => {
      const pool = this.currentPool();
      if (this.options.ensureSchema) {
        await ensureTables(pool, [jobsTableSql(this.repository.tableName), jobLogsTableSql(this.logger.tableName)]);
      }
      await this.repository.connect();
    })().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  async disconnect(): Promise<void> {
    this.connecting = undefined;
    if (!this.ownsConnection || !this.pool) return;
    const pool = this.pool;
    this.pool = undefined;
    await pool.end();
  }
}
