// Job metrics for /metrics.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PrismaClient } from '../generated/prisma/client.ts';

export function createJobMetrics(registry: Registry, prisma: PrismaClient) {
  return {
    queued: new Counter({ name: 'fmd_jobs_queued_total', help: 'jobs queued, by kind', labelNames: ['kind'] as const, registers: [registry] }),
    running: new Gauge({ name: 'fmd_jobs_running', help: 'jobs running in this process, by kind', labelNames: ['kind'] as const, registers: [registry] }),
    finished: new Counter({ name: 'fmd_jobs_finished_total', help: 'job runs finished, by kind and result (ended, broken, retry)', labelNames: ['kind', 'result'] as const, registers: [registry] }),
    duration: new Histogram({
      name: 'fmd_job_duration_seconds',
      help: 'job run duration by kind and result',
      labelNames: ['kind', 'result'] as const,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1200],
      registers: [registry],
    }),
    waiting: new Gauge({
      name: 'fmd_jobs_by_status',
      help: 'jobs in the store by status (all processes)',
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        const rows = await prisma.job.groupBy({ by: ['status'], _count: { _all: true } }).catch(() => []);
        this.reset();
        for (const r of rows) this.set({ status: r.status }, r._count._all);
      },
    }),
  };
}
export type JobMetrics = ReturnType<typeof createJobMetrics>;
