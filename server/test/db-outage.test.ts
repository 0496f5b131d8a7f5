// Losing the database at runtime gives 503s, and fmd recovers when it returns; no crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { startEmbeddedMariaDb } from '../src/db/embedded-mariadb.ts';
import { ensureDatabase, targetToUrl } from '../src/db/connection.ts';
import { loadConfig } from '../src/config/index.ts';
import { openDatabase } from '../src/db/index.ts';
import { createServices } from '../src/services.ts';
import { startHttpServer } from '../src/http/app.ts';
import { pollFor } from './kit/server.ts';
import { publishTestApp } from './kit/repo-fixtures.ts';
import * as ostree from '../src/ostree/ostree.ts';

const quiet = { info() {}, warn() {} };

test('database outage: 503 while it is down, full service once it is back', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-outage-'));
  let mariadb = await startEmbeddedMariaDb(dir, 'fmd', quiet);
  await ensureDatabase(mariadb.target);
  const secret = randomBytes(32).toString('base64');
  const config = loadConfig({}, { 'data-dir': dir, 'database-url': targetToUrl(mariadb.target), secret, 'log-level': 'silent', 'job-poll-ms': 500 });
  const log = pino({ level: 'silent' });
  const db = await openDatabase(config, log, { owner: false });
  const services = await createServices(config, db, log, secret);
  const token = (await services.users.bootstrapAdmin())!;
  await services.jobEngine.startWorker();
  const http = await startHttpServer(services, { host: '127.0.0.1', port: 0 });
  const tokens = () =>
    fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ tokens(first: 1) { totalCount } }' }),
    });
  try {
    assert.equal((await tokens()).status, 200);
    // A repo with the test app, whose commit is downloaded while the database is away.
    await services.repos.create({ name: 'dl' } as never);
    const b = await publishTestApp(services.repos.repoPath('dl'));
    const commit = (await ostree.revParse(services.repos.repoPath('dl'), b.app.ref))!;
    await mariadb.stop();

    const down = await tokens();
    assert.equal(down.status, 503);
    const body = (await down.json()) as any;
    assert.equal(body.errors[0].extensions.code, 'SERVICE_UNAVAILABLE');
    assert.equal(down.headers.get('retry-after'), '5');
    assert.equal((await fetch(`${http.url}/readyz`)).status, 503);
    assert.equal((await fetch(`${http.url}/healthz`)).status, 200, 'the process itself is fine');

    // Download counts wait in memory while the database is down...
    assert.ok(services.downloadStats.record('dl', `objects/${commit.slice(0, 2)}/${commit.slice(2)}.commit`));
    await assert.rejects(services.downloadStats.flush());

    mariadb = await startEmbeddedMariaDb(dir, 'fmd', quiet);
    await pollFor(async () => (await tokens()).status === 200, 30_000, 250);
    // ...and are written once it is back.
    await services.downloadStats.flush();
    const rows = await services.prisma.downloadStat.findMany({ select: { ref: true, kind: true, count: true } });
    assert.deepEqual(rows, [{ ref: b.app.ref, kind: 'INSTALL', count: 1 }]);
    assert.equal((await fetch(`${http.url}/readyz`)).status, 200);
    // Jobs run again too.
    const job = await services.jobs.enqueue('noop', { lines: 1 });
    await pollFor(async () => (await services.jobs.get(job.id))?.status === 'ENDED', 20_000);
  } finally {
    await http.stop(1000);
    await services.close();
    await db.close();
    await mariadb.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
