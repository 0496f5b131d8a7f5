// `fmdc stats` and `fmdc stats downloads` as child processes against a real server: a build whose
// commit fails shows in the apps and failure reasons (table and --json); downloads of an unknown
// repo and a bad --days are errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../test/server.ts';
import { fmdc as runFmdc, type Run } from '../test/fmdc.ts';

describe('fmdc stats', () => {
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

  test('build figures, apps and failure reasons; downloads; bad input', async () => {
    assert.equal((await fmdc(['repo', 'create', 'cli-stats'])).code, 0);
    // An upload build committed with nothing uploaded: its commit fails ("No refs in build").
    const created = await fmdc(['build', 'create', '--repo', 'cli-stats', '--app-id', 'org.test.CliStats', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const number = (JSON.parse(created.stdout) as { build: { number: number } }).build.number;
    const commit = await fmdc(['build', 'commit', String(number), '--follow']);
    assert.notEqual(commit.code, 0, 'the commit fails');
    assert.match(commit.stdout + commit.stderr, /No refs in build/, commit.stdout + commit.stderr);

    const shown = await fmdc(['stats', '--repo', 'cli-stats', '--days', '7']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^builds:\s+1: 0 succeeded, 1 failed/m);
    assert.match(shown.stdout, /^success rate:\s+0 %$/m);
    assert.match(shown.stdout, /org\.test\.CliStats\s+1\s+0 %/);
    assert.match(shown.stdout, new RegExp(`^\\s*1\\s+#${number}\\s+No refs in build$`, 'm'));
    const json = JSON.parse((await fmdc(['stats', '--repo', 'cli-stats', '--json'])).stdout) as { total: number; failureReasons: { reason: string; count: number }[] };
    assert.equal(json.total, 1);
    assert.deepEqual(json.failureReasons.map((f) => [f.reason, f.count]), [['No refs in build', 1]]);

    const downloads = await fmdc(['stats', 'downloads', '--repo', 'cli-stats']);
    assert.equal(downloads.code, 0, downloads.stderr);
    assert.match(downloads.stdout, /^0 installs, 0 updates since \d{4}-\d{2}-\d{2}$/m);
    assert.match(downloads.stdout, /no downloads/);
    const unknown = await fmdc(['stats', 'downloads', '--repo', 'cli-no-such-repo']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no repo "cli-no-such-repo"/);
    const bad = await fmdc(['stats', '--days', '400']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /days must be a whole number from 1 to 366/);
  });
});
