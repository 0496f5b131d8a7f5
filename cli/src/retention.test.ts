// `fmdc repo retention show|set`, `fmdc repo fsck` and `fmdc retention run` as child processes
// against a real server: settings round-trip, bad values refused before or by the server, runs
// queued as jobs and followed to their end.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../test/server.ts';
import { fmdc as runFmdc, type Run } from '../test/fmdc.ts';

describe('fmdc retention', () => {
  let server: TestServer;
  let env: Record<string, string>;
  const fmdc = (args: string[]): Promise<Run> => runFmdc(args, { env });
  before(async () => {
    server = await startTestServer();
    env = { FMDC_URL: server.url, FMDC_TOKEN: server.adminToken };
  });
  after(async () => {
    await server?.stop();
  });

  test('set and show settings; bad values are refused; fsck and runs are jobs', async () => {
    assert.equal((await fmdc(['repo', 'create', 'cli-ret'])).code, 0);
    const set = await fmdc(['repo', 'retention', 'set', 'cli-ret', '--purge-after', '30', '--prune-every', '1d', '--dry-run', '--json']);
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { purgeBuildsAfterDays: 30, pruneIntervalSecs: 86_400, fsckIntervalSecs: null, dryRun: true });

    const bad = await fmdc(['repo', 'retention', 'set', 'cli-ret', '--prune-every', '5']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /pruneIntervalSecs must be from 60 s/);
    const usage = await fmdc(['repo', 'retention', 'set', 'cli-ret', '--purge-after', 'soon']);
    assert.equal(usage.code, 2);

    const shown = await fmdc(['repo', 'retention', 'show', 'cli-ret']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /purge builds after:\s+30 day\(s\)/);
    assert.match(shown.stdout, /prune:\s+every 1d/);
    assert.match(shown.stdout, /^\s*prune\s+\d+\s+NEW\s/m, 'the scheduled prune is listed');

    const fsck = await fmdc(['repo', 'fsck', 'cli-ret', '--json']);
    assert.equal(fsck.code, 0, fsck.stderr);
    const fsckJob = JSON.parse(fsck.stdout).job.number as number;
    const followed = await fmdc(['job', 'follow', String(fsckJob)]);
    assert.equal(followed.code, 0, followed.stderr);

    const dry = await fmdc(['retention', 'run', '--repo', 'cli-ret', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const job = JSON.parse(dry.stdout).job;
    assert.equal(job.kind, 'retention-sweep');
    assert.equal((await fmdc(['job', 'follow', String(job.number)])).code, 0);
    const shownJob = await fmdc(['job', 'show', String(job.number), '--json']);
    assert.equal(JSON.parse(shownJob.stdout).results.dryRun, true, shownJob.stdout);

    const listed = await fmdc(['repo', 'retention', 'show', 'cli-ret', '--json']);
    const runs = JSON.parse(listed.stdout).lastRuns.map((j: { number: number }) => j.number);
    assert.ok(runs.includes(fsckJob) && runs.includes(job.number), JSON.stringify(runs));

    const builder = await fmdc(['token', 'create', 'cli-ret-builder', '--scope', 'build', '--duration', '1h']);
    const refused = await runFmdc(['retention', 'run', '--repo', 'cli-ret'], { env: { ...env, FMDC_TOKEN: builder.stdout.trim() } });
    assert.equal(refused.code, 4, refused.stderr);
  });
});
