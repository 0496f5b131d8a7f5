// The domain services of one fmd process, built once and handed to GraphQL, REST and jobs.
import type { Logger } from 'pino';
import type { FmdConfig } from './config/index.ts';
import type { Database } from './db/index.ts';
import type { PrismaClient } from './generated/prisma/client.ts';
import { MemoryEventBus, type EventBus } from './domain/events.ts';
import { TokenService } from './domain/tokens/service.ts';
import { secretKey } from './domain/tokens/jwt.ts';
import { UserService } from './domain/users/service.ts';

export type Services = {
  config: FmdConfig;
  log: Logger;
  db: Database;
  prisma: PrismaClient;
  events: EventBus;
  tokens: TokenService;
  users: UserService;
  close(): Promise<void>;
};

export async function createServices(config: FmdConfig, db: Database, log: Logger, secret: string): Promise<Services> {
  const events: EventBus = config.redis
    ? await (await import('./events/redis-bus.ts')).createRedisEventBus(config.redis, log)
    : new MemoryEventBus();
  const tokens = new TokenService(db.prisma, secretKey(secret), { flushMs: config.tokenUsageFlushMs });
  const users = new UserService(db.prisma, tokens);
  return {
    config,
    log,
    db,
    prisma: db.prisma,
    events,
    tokens,
    users,
    async close() {
      await tokens.close();
      await events.close();
    },
  };
}
