// The build and job commands of the real fmdc against a real server that builds git sources
// (file:// repositories with manifests for the offline test runtime) and takes uploads pushed
// the way flat-manager-client pushes them: live logs over subscriptions, exit codes of what was
// followed, Ctrl-C, the upload lifecycle, --json of every command, and bad inputs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBuildServer, type BuildKit } from '../test/server.ts';
import { fmdc, startFmdc, type Run } from '../test/fmdc.ts';

function json<T = any>(run: Run): T {
  assert.equal(run.code, 0, `exit 0 expected; stdout: ${run.stdout} stderr: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

describe('fmdc build and job commands', () => {
  let k: BuildKit;
  let auth: string[];
  const run = (args: string[], timeoutMs?: number) => fmdc([...args, ...auth], { timeoutMs: timeoutMs ?? 60_000 });
  const live = (args: string[]) => startFmdc([...args, ...auth], { timeoutMs: 300_000 });
  const buildNow = async (n: number) => (await k.server.gql('query($n: Int!) { build(number: $n) { state publishedState stateReason } }', { n })).body.data.build;

  before(async () => {
    k = await startBuildServer();
    await k.createSignedRepo('apps');
    await k.createSignedRepo('stable', { parent: 'apps' });
    auth = ['--url', k.server.url, '--token', k.server.adminToken];
  });
  after(async () => {
    await k?.server.stop();
  });

  test('build create --git --follow shows the live log and exits 0 once the build is published', { timeout: 300_000 }, async () => {
    const app = await k.makeGitApp({ appId: 'org.test.CliGit', message: 'Hello from fmdc', buildCommands: ['sleep 4'] });
    const following = live(['build', 'create', '--repo', 'apps', '--git', app.url, '--auto-publish', '--follow']);
    await following.waitFor(/created git build \d+/, 'stderr');
    const n = Number(/created git build (\d+)/.exec(following.stderr)![1]);
    // The log arrives while the build runs, not at its end.
    await following.waitFor(/Building module hello/);
    assert.notEqual((await buildNow(n)).publishedState, 'PUBLISHED');
    const r = await following.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Cloning file:\/\//);
    assert.match(r.stdout, /Exported app\/org\.test\.CliGit\//);
    // Each job of the build in turn: build, commit, publish.
    assert.match(r.stderr, /── git-build job \d+ ──[^]*── commit job \d+ ──[^]*── publish job \d+ ──/);
    assert.match(r.stderr, new RegExp(`build ${n} published`));
    assert.deepEqual(await buildNow(n), { state: 'READY', publishedState: 'PUBLISHED', stateReason: null });

    // Afterwards: the logs replayed, the build shown, rebuilt and followed again as JSON.
    const logs = await run(['build', 'logs', String(n)]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /── git-build job \d+ \(ended\) ──[^]*Building module hello[^]*── publish job \d+ \(ended\) ──/);
    const shown = json(await run(['build', 'show', String(n), '--json']));
    assert.equal(shown.number, n);
    assert.equal(shown.source.url, app.url);
    assert.equal(shown.publishedState, 'PUBLISHED');
    const human = await run(['build', 'show', String(n)]);
    assert.match(human.stdout, /state:\s+ready, published/);
    assert.match(human.stdout, new RegExp(`url:\\s+${k.server.url}/api/v1/build/${n}`));
    assert.match(human.stdout, /git-build\s+ended/);

    const again = await run(['build', 'rebuild', String(n), '--follow', '--json'], 300_000);
    const rebuilt = json(again);
    assert.notEqual(rebuilt.build.number, n);
    assert.equal(rebuilt.reached, 'published');
    assert.equal(rebuilt.build.publishedState, 'PUBLISHED');
    // With --json the log goes to stderr: stdout is the JSON alone.
    assert.match(again.stderr, /Cache hit for hello/);
  });

  test('a failing manifest fails build create --follow with exit 5 and the failure reason', { timeout: 300_000 }, async () => {
    const app = await k.makeGitApp({ appId: 'org.test.CliFails', buildCommands: ['echo the-build-broke-here', 'exit 3'] });
    const r = await run(['build', 'create', '--repo', 'apps', '--git', app.url, '--ref', 'main', '--follow'], 300_000);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stdout, /the-build-broke-here/);
    assert.match(r.stderr, /build \d+ failed: flatpak-builder exited with code 1:[^]*Child process exited with code 3/);
    const n = Number(/created git build (\d+)/.exec(r.stderr)![1]);

    // Following it again ends the same way at once; its job alone exits 5 too.
    const logs = await run(['build', 'logs', String(n), '--follow']);
    assert.equal(logs.code, 5);
    assert.match(logs.stdout, /the-build-broke-here/);
    const job = json(await run(['build', 'show', String(n), '--json'])).jobs.edges[0].node;
    assert.equal(job.kind, 'git-build');
    const followed = await run(['job', 'follow', String(job.number)]);
    assert.equal(followed.code, 5);
    assert.match(followed.stdout, /the-build-broke-here/);
    assert.match(followed.stderr, /git-build job \d+ failed: /);
    // The lists filter on what failed.
    const failed = json(await run(['build', 'list', '--state', 'failed', '--json']));
    assert.ok(failed.nodes.some((b: { number: number }) => b.number === n));
    assert.ok(failed.nodes.every((b: { state: string }) => b.state === 'FAILED'));
    const broken = json(await run(['job', 'list', '--status', 'broken', '--kind', 'git-build', '--json']));
    assert.ok(broken.nodes.some((j: { number: number }) => j.number === job.number));
    assert.ok(broken.nodes.every((j: { status: string; kind: string }) => j.status === 'BROKEN' && j.kind === 'git-build'));

    // --json: stdout is the error as JSON, with the same exit code.
    const app2 = await k.makeGitApp({ appId: 'org.test.CliFailsJson', buildCommands: ['exit 4'] });
    const j = await run(['build', 'create', '--repo', 'apps', '--git', app2.url, '--follow', '--json'], 300_000);
    assert.equal(j.code, 5);
    const body = JSON.parse(j.stdout) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'failed');
    assert.match(body.error.message, /Child process exited with code 4/);
  });

  test('Ctrl-C stops following and leaves the build running; build cancel stops it; following a cancelled build exits 6', { timeout: 300_000 }, async () => {
    const app = await k.makeGitApp({ appId: 'org.test.CliSlow', buildCommands: ['echo slow-build-started', 'sleep 120'] });
    const following = live(['build', 'create', '--repo', 'apps', '--git', app.url, '--follow']);
    await following.waitFor(/slow-build-started/);
    const n = Number(/created git build (\d+)/.exec(following.stderr)![1]);
    following.kill('SIGINT');
    const r = await following.done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, new RegExp(`stopped following; it goes on on the server\\. \`fmdc build logs ${n} --follow\``));
    assert.equal((await buildNow(n)).state, 'BUILDING');

    const again = live(['build', 'logs', String(n), '--follow']);
    await again.waitFor(/slow-build-started/);
    const cancelled = await run(['build', 'cancel', String(n), '--reason', 'changed my mind']);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stdout, new RegExp(`build ${n}: cancelled`));
    const f = await again.done;
    assert.equal(f.code, 6, f.stderr);
    assert.match(f.stderr, /cancelled: .*changed my mind/);

    // Cancelling it again is a typed wrong-state error.
    const twice = await run(['build', 'cancel', String(n)]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /only a git build that is waiting, cloning or building can be cancelled/);
    assert.match(twice.stderr, /Code: wrong-repo-state/);
  });

  test('an upload build: create prints its URL, a push fills it, commit, publish and promote follow their jobs; lists and shows; purge', { timeout: 300_000 }, async () => {
    const created = await run(['build', 'create', '--repo', 'apps', '--app-id', 'org.test.Hello']);
    assert.equal(created.code, 0, created.stderr);
    const url = /url: (\S+)/.exec(created.stdout)![1]!;
    const n = Number(/created build (\d+) in apps for upload/.exec(created.stdout)![1]);
    assert.equal(url, `${k.server.url}/api/v1/build/${n}`);
    assert.match(created.stdout, /fmdc push http\S+ <local-repo>/);
    const ref = await k.pushTestApp(url);

    const committed = await run(['build', 'commit', String(n), '--follow']);
    assert.equal(committed.code, 0, committed.stderr);
    assert.match(committed.stderr, /commit job \d+ ended/);
    assert.ok(committed.stdout.length > 0, 'the commit log is printed');
    const published = json(await run(['build', 'publish', String(n), '--follow', '--json']));
    assert.equal(published.job.status, 'ENDED');
    assert.equal(published.job.kind, 'publish');
    const shown = json(await run(['build', 'show', String(n), '--json']));
    assert.equal(shown.publishedState, 'PUBLISHED');
    assert.deepEqual(shown.refs.map((r: { name: string }) => r.name), [ref]);
    assert.equal(shown.source, null);

    const promoted = await run(['build', 'promote', String(n), '--to', 'stable', '--follow']);
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stderr, /promote job \d+ ended/);

    // Publishing twice: the typed error and its exit code.
    const again = await run(['build', 'publish', String(n)]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Code: wrong-published-state/);
    const againJson = await run(['build', 'publish', String(n), '--json']);
    assert.equal(againJson.code, 1);
    assert.equal(JSON.parse(againJson.stdout).error.code, 'wrong-published-state');
    // An upload build cannot be cancelled (only purged).
    const cancel = await run(['build', 'cancel', String(n)]);
    assert.equal(cancel.code, 1);
    assert.match(cancel.stderr, new RegExp(`build ${n} is not a git build`));
    assert.match(cancel.stderr, /Code: invalid-input/);

    // Lists filter and page.
    const list = json(await run(['build', 'list', '--repo', 'apps', '--app', 'org.test.Hello', '--json']));
    assert.deepEqual(list.nodes.map((b: { number: number }) => b.number), [n]);
    const page = json(await run(['build', 'list', '--first', '1', '--json']));
    assert.equal(page.nodes.length, 1);
    assert.equal(page.hasNextPage, page.totalCount > 1);
    if (page.hasNextPage) {
      const next = json(await run(['build', 'list', '--first', '1', '--after', page.endCursor, '--json']));
      assert.notEqual(next.nodes[0].number, page.nodes[0].number);
    }
    const table = await run(['build', 'list', '--repo', 'apps', '--app', 'org.test.Hello']);
    assert.match(table.stdout, /^BUILD\s+REPO\s+APP\s+STATE\s+CREATED\s+SOURCE$/m);
    assert.match(table.stdout, new RegExp(`^\\s*${n}\\s+apps\\s+org\\.test\\.Hello\\s+ready, published\\s+.*upload$`, 'm'));

    const commits = json(await run(['job', 'list', '--kind', 'commit', '--json']));
    assert.ok(commits.nodes.length >= 1 && commits.nodes.every((j: { kind: string }) => j.kind === 'commit'), JSON.stringify(commits));
    const publishes = json(await run(['job', 'list', '--kind', 'publish', '--repo', 'apps', '--json']));
    assert.ok(publishes.nodes.some((j: { number: number }) => j.number === published.job.number), JSON.stringify(publishes));
    assert.ok(publishes.nodes.every((j: { kind: string; repo: string }) => j.kind === 'publish' && j.repo === 'apps'));
    const none = json(await run(['job', 'list', '--kind', 'publish', '--repo', 'stable', '--json']));
    assert.ok(!none.nodes.some((j: { number: number }) => j.number === published.job.number));
    const jobTable = await run(['job', 'list', '--kind', 'publish', '--limit', '1']);
    assert.match(jobTable.stdout, /^\s*JOB\s+KIND\s+STATUS\s+REPO\s+CREATED\s+ERROR$/m);
    assert.match(jobTable.stdout, /^\s*\d+\s+publish\s+ended\s+\S+/m);
    const jobNumber = published.job.number;
    const job = json(await run(['job', 'show', String(jobNumber), '--log', '--json']));
    assert.equal(job.number, jobNumber);
    assert.equal(job.status, 'ENDED');
    const jobText = await run(['job', 'show', String(jobNumber), '--log']);
    assert.match(jobText.stdout, /kind:\s+publish/);
    // Following an ended job replays its log and exits 0.
    const replay = await run(['job', 'follow', String(jobNumber)]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal(replay.stdout.trim(), job.log.text.trim());

    // A second upload build, purged.
    const other = json(await run(['build', 'create', '--repo', 'apps', '--json']));
    assert.equal(other.url, `${k.server.url}/api/v1/build/${other.build.number}`);
    const purged = json(await run(['build', 'purge', String(other.build.number), '--json']));
    assert.equal(purged.build.state, 'PURGED');
  });

  test('unknown builds and jobs, and bad flags, fail with their exit codes', { timeout: 300_000 }, async () => {
    for (const args of [['build', 'show', '99999'], ['build', 'logs', '99999'], ['job', 'show', '99999'], ['job', 'follow', '99999']]) {
      const r = await run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /99999 not found/);
    }
    for (const args of [['build', 'commit', '99999'], ['build', 'publish', '99999'], ['build', 'purge', '99999'], ['build', 'cancel', '99999'], ['build', 'rebuild', '99999'], ['job', 'cancel', '99999']]) {
      const r = await run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /not.found|Code: not-found/i, `${args.join(' ')}: ${r.stderr}`);
    }
    const badRepo = await run(['build', 'create', '--repo', 'no-such-repo']);
    assert.equal(badRepo.code, 1);
    const badScheme = await run(['build', 'create', '--repo', 'apps', '--git', 'ftp://example.org/x.git']);
    assert.equal(badScheme.code, 1);
    assert.match(badScheme.stderr, /Code: /);
    // Usage errors never reach the server.
    assert.equal((await run(['build', 'show', 'x'])).code, 2);
    assert.equal((await run(['build', 'create', '--repo', 'apps', '--ref', 'main'])).code, 2, '--ref needs --git');
    assert.equal((await run(['build', 'create', '--repo', 'apps', '--git', 'file:///x', '--auto-publish', '--no-auto-commit'])).code, 2);
    assert.equal((await run(['build', 'list', '--state', 'nonsense'])).code, 2);
  });

  test('every build and job command has --help with examples, and says what following exits with', async () => {
    const commands = ['build list', 'build show', 'build create', 'build logs', 'build commit', 'build publish', 'build purge', 'build cancel', 'build rebuild', 'build promote', 'job list', 'job show', 'job follow', 'job cancel'];
    for (const c of commands) {
      const r = await fmdc([...c.split(' '), '--help']);
      assert.equal(r.code, 0, `${c}: ${r.stderr}`);
      assert.match(r.stdout, /EXAMPLES/, c);
      if (/create|logs|commit|publish|rebuild|promote|follow/.test(c)) assert.match(r.stdout, /Exit codes when following: 0 .* 5 .* 6 .* 130/s, c);
    }
  });
});
