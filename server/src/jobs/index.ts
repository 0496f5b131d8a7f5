// Wires the job engine: creates it, registers every job kind's handler, starts workers.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Pool } from 'mysql2/promise';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { FmdConfig } from '../config/index.ts';
import type { EventBus } from '../domain/events.ts';
import { JobEngine } from './engine.ts';
import { createJobMetrics } from './metrics.ts';
import { noopJob } from './kinds/noop.ts';
import { commitJob } from './kinds/commit.ts';
import { publishJob } from './kinds/publish.ts';
import { promoteJob } from './kinds/promote.ts';
import { updateRepoJob } from './kinds/update-repo.ts';
import { republishJob } from './kinds/republish.ts';
import { pruneJob } from './kinds/prune.ts';
import { checkJob } from './kinds/check.ts';
import type { Services } from '../services.ts';

export async function createJobEngine(opts: { config: FmdConfig; prisma: PrismaClient; pool: Pool; events: EventBus; log: Logger; registry: Registry }): Promise<JobEngine> {
  const metrics = createJobMetrics(opts.registry, opts.prisma);
  return JobEngine.create({ ...opts, metrics });
}

/** Every job kind and its handler. Handlers call the domain services they need. */
export function registerJobKinds(engine: JobEngine, services: Services): void {
  void services;
  engine.define('noop', noopJob);
  engine.define('delete-repo', { recovery: 'requeue', handler: (run) => services.repos.deleteRepoFiles(run) });
  engine.define('commit', commitJob(services.builds));
  engine.define('publish', publishJob(services.builds));
  engine.define('promote', promoteJob(services.promotions));
  engine.define('update-repo', updateRepoJob(services.builds));
  engine.define('republish', republishJob(services.builds));
  engine.define('prune', pruneJob(services.builds));
  engine.define('check', checkJob(services.builds));
}

export { JobEngine };
