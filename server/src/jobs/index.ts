// The job engine of one process: Agenda on the job store, with its metrics. The kinds and their
// handlers are registered by the composition root (services.ts) from registry.ts.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Pool } from 'mysql2/promise';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { FmdConfig } from '../config/index.ts';
import type { EventBus } from '../domain/events.ts';
import { JobEngine } from './engine.ts';
import { createJobMetrics } from './metrics.ts';

export async function createJobEngine(opts: { config: FmdConfig; prisma: PrismaClient; pool: Pool; events: EventBus; log: Logger; registry: Registry }): Promise<JobEngine> {
  const metrics = createJobMetrics(opts.registry, opts.prisma);
  return JobEngine.create({ ...opts, metrics });
}

export { JobEngine };
export { registerJobKinds } from './registry.ts';
