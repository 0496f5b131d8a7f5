// Agenda 6 on MariaDB (mysql2): see backend.ts for the options and schema.ts for the tables.
export { MariaDbBackend, poolFromUri, type MariaDbBackendOptions } from './backend.ts';
export { MariaDbJobRepository } from './repository.ts';
export { MariaDbJobLogger } from './logger.ts';
export { RedisNotificationChannel, type RedisNotificationChannelOptions } from './redis-channel.ts';
export { jobStoreSchemaSql, jobsTableSql, jobLogsTableSql } from './schema.ts';
// Agenda ships the in-process channel; exported here so callers find every channel in one place.
export { InMemoryNotificationChannel, InMemoryNotificationChannel as InProcessNotificationChannel } from 'agenda';
