// Prometheus metrics of this process. Areas register their own metrics on `registry`.
import { Registry, collectDefaultMetrics, Histogram } from 'prom-client';
import type { RequestHandler } from 'express';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fmd_' });
  const httpDuration = new Histogram({
    name: 'fmd_http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const middleware: RequestHandler = (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      // The matched route pattern keeps label cardinality bounded.
      const route = (req.route?.path as string | undefined) ?? req.baseUrl ?? 'unmatched';
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      httpDuration.labels(req.method, route || req.path.split('/').slice(0, 2).join('/'), String(res.statusCode)).observe(seconds);
    });
    next();
  };
  return { registry, middleware };
}
export type Metrics = ReturnType<typeof createMetrics>;
