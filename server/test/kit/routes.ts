// Every HTTP route an express 5 app answers, read from its router stack: the `request`
// listener of the http.Server is the app, `app.router.stack` its layers. A route layer gives
// `<METHOD> <path>`; a middleware mounted at a path (a sub-router's own handlers, a static
// server, a catch-all) gives `USE <path>/*`, since it may answer anything below its mount.
import type { Server } from 'node:http';

type Layer = {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle: ((...args: unknown[]) => unknown) & { stack?: Layer[] };
};

function join(base: string, p: string): string {
  const joined = `${base}/${p}`.replace(/\/+/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

function pathsOf(raw: unknown): string[] {
  if (raw === undefined) return ['/'];
  const list = Array.isArray(raw) ? raw.flat(Infinity) : [raw];
  return list.map((p) => (typeof p === 'string' ? p : `<regexp ${String(p)}>`));
}

function walk(stack: Layer[], base: string, out: Set<string>): void {
  for (const layer of stack) {
    if (layer.route) {
      const methods = Object.keys(layer.route.methods).filter((m) => layer.route!.methods[m]).map((m) => m.toUpperCase());
      for (const p of pathsOf(layer.route.path)) for (const m of methods.length ? methods : ['ALL']) out.add(`${m} ${join(base, p)}`);
      continue;
    }
    // Error handlers (four arguments) answer only requests another layer failed.
    if (layer.handle.length === 4) continue;
    for (const p of pathsOf(layer.rawPath)) {
      const mount = join(base, p);
      if (Array.isArray(layer.handle.stack)) walk(layer.handle.stack, mount, out);
      else out.add(`USE ${join(mount, '*')}`);
    }
  }
}

/** The app's routes as `GET /api/v1/build/:id`, `USE /repo/*`, ... sorted. */
export function listRoutes(server: Server): string[] {
  const app = server.listeners('request')[0] as { router?: { stack: Layer[] } } | undefined;
  if (!app?.router) throw new Error('the server has no express app as its request listener');
  const out = new Set<string>();
  walk(app.router.stack, '/', out);
  return [...out].sort();
}
