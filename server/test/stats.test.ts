// Statistics: downloads counted as Flathub counts them, with real clients. A stock flatpak
// installs and then updates the test app from fmd's /repo/ and both show up in the app's
// downloadStats; an nginx access log in the documented fmd_stats format is imported by the
// `fmd stats import-nginx-log` command, each line once across re-runs and a rotation; build
// statistics split durations into phases and group failure reasons.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startTestServer, type TestServer } from './kit/server.ts';
import { createSignedRepo, installAndRun, publishTestApp, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { APP_ID, clientEnv, tempDir } from './kit/flatpak-fixtures.ts';
import { runFmd, showRun } from './kit/fmd-command.ts';
import { runTool } from '../src/ostree/exec.ts';
import * as ostree from '../src/ostree/ostree.ts';
import { downloadOf } from '../src/domain/stats/downloads.ts';

let s: TestServer;
let work: string;
let b: Builds;
before(async () => {
  s = await startTestServer();
  work = await tempDir('fmd-stats-');
  b = await testBuilds();
});
after(async () => {
  await s?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const DOWNLOADS = `query($repo: String, $appId: String, $days: Int) { downloadStats(repo: $repo, appId: $appId, days: $days) { installs updates days { day installs updates } refs { repo ref appId installs updates } } }`;

async function downloads(vars: Record<string, unknown>, token?: string) {
  const r = await s.gql(DOWNLOADS, vars, token);
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data.downloadStats;
}

test('a flatpak install and a flatpak update of the test app show up in its download statistics', { timeout: 600_000 }, async (t) => {
  await createSignedRepo(s, 'stats');
  const dir = s.services.repos.repoPath('stats');
  await publishTestApp(dir, { subject: 'first' });
  await s.services.repos.updateSummary('stats');
  const first = (await ostree.revParse(dir, b.app.ref))!;

  const client = path.join(work, 'client');
  const out = await installAndRun(client, { url: `${s.url}/repo/stats.flatpakrepo` });
  assert.match(out, new RegExp(b.app.message));
  await s.services.downloadStats.flush();
  const afterInstall = await downloads({ repo: 'stats', appId: APP_ID });
  t.diagnostic(`after install: ${JSON.stringify(afterInstall.refs)}`);
  assert.deepEqual(
    afterInstall.refs.map((r: { ref: string; installs: number; updates: number }) => [r.ref, r.installs, r.updates]),
    [[b.app.ref, 1, 0]],
    'one install of the app ref',
  );
  assert.equal(afterInstall.installs, 1);
  assert.equal(afterInstall.days.at(-1).installs, 1, 'counted today');

  // A new commit of the app, with a delta from the first; the client updates.
  await publishTestApp(dir, { subject: 'second' });
  await s.services.repos.updateSummary('stats');
  const second = (await ostree.revParse(dir, b.app.ref))!;
  assert.notEqual(second, first);
  const env = await clientEnv(client);
  await runTool('flatpak', ['--user', 'update', '-y', '--noninteractive'], { env, timeoutMs: 120_000 });
  const { stdout: info } = await runTool('flatpak', ['--user', 'info', APP_ID], { env });
  assert.match(info, new RegExp(second.slice(0, 12)), 'the client has the new commit');
  await s.services.downloadStats.flush();
  const afterUpdate = await downloads({ repo: 'stats', appId: APP_ID, days: 1 });
  t.diagnostic(`after update: ${JSON.stringify(afterUpdate.refs)}`);
  assert.deepEqual(
    afterUpdate.refs.map((r: { ref: string; installs: number; updates: number }) => [r.ref, r.installs, r.updates]),
    [[b.app.ref, 1, 1]],
    'the update counted as one update',
  );
  assert.deepEqual(afterUpdate.days, [{ day: new Date().toISOString().slice(0, 10), installs: 1, updates: 1 }]);

  // The runtime was installed too, under its own ref; without appId every ref of the repo shows.
  const all = await downloads({ repo: 'stats' });
  assert.ok(all.refs.some((r: { ref: string; installs: number }) => r.ref.startsWith('runtime/org.test.Platform/') && r.installs === 1), JSON.stringify(all.refs));

  // Every delta superblock of the repo parses to the commits `ostree static-delta list` names.
  const listed = (await runTool('ostree', ['static-delta', 'list', `--repo=${dir}`])).stdout.split('\n').filter((l) => /^[0-9a-f]{64}/.test(l)).map((l) => l.trim()).sort();
  const superblocks = (await readdir(path.join(dir, 'deltas'), { recursive: true })).map(String).filter((p) => p.endsWith('/superblock'));
  const parsed = superblocks.map((p) => downloadOf(`deltas/${p}`)).map((d) => (d ? (d.from ? `${d.from}-${d.commit}` : d.commit) : 'unparsed')).sort();
  assert.ok(listed.length >= 2 && listed.some((l) => l.includes('-')), `from-scratch and from-to deltas: ${listed.join(', ')}`);
  assert.deepEqual(parsed, listed);

  // A HEAD, a resumed range and a conditional request are no downloads.
  const commitUrl = `${s.url}/repo/stats/objects/${second.slice(0, 2)}/${second.slice(2)}.commit`;
  assert.equal((await fetch(commitUrl, { method: 'HEAD' })).status, 200);
  assert.equal((await fetch(commitUrl, { headers: { range: 'bytes=10-' } })).status, 206);
  await s.services.downloadStats.flush();
  assert.deepEqual((await downloads({ repo: 'stats', appId: APP_ID })).refs[0], { repo: 'stats', ref: b.app.ref, appId: APP_ID, installs: 1, updates: 1 });
});

test('downloadStats: visibility by token repos and prefixes; bad days and unknown repos', async () => {
  const token = async (claims: Record<string, unknown>) => {
    const r = await s.gql(`mutation($input: CreateTokenInput!) { createToken(input: $input) { ... on CreateTokenPayload { token } ... on Error { message } } }`, {
      input: { name: 'stats reader', scopes: ['download'], durationSeconds: 3600, ...claims },
    });
    const tok = r.body.data?.createToken?.token;
    assert.ok(tok, JSON.stringify(r.body));
    return tok as string;
  };
  const other = await token({ repos: ['not-stats'] });
  const otherApp = await token({ prefixes: ['org.other'] });
  const mine = await token({ repos: ['stats'], prefixes: ['org.test.Hello'] });
  assert.equal((await downloads({ repo: 'stats' }, other)), null, 'another repo\'s token: null');
  assert.deepEqual((await downloads({}, other)).refs, []);
  assert.deepEqual((await downloads({ repo: 'stats' }, otherApp)).refs, [], 'another prefix sees no refs');
  assert.deepEqual(
    (await downloads({ repo: 'stats' }, mine)).refs.map((r: { ref: string }) => r.ref),
    [b.app.ref],
    'its own app only (not the runtime)',
  );
  assert.equal(await downloads({ repo: 'no-such-repo' }), null);
  for (const days of [0, -1, 367]) {
    const r = await s.gql(DOWNLOADS, { repo: 'stats', days });
    assert.match(r.body.errors?.[0]?.message ?? '', /days must be a whole number from 1 to 366/, `days ${days}`);
  }
  const long = await s.gql(DOWNLOADS, { appId: 'x'.repeat(256) });
  assert.match(long.body.errors?.[0]?.message ?? '', /appId must be 1 to 255 characters/);
  const anon = await s.gql(DOWNLOADS, {}, null);
  assert.ok(anon.body.errors?.length && !anon.body.data?.downloadStats, 'no token, no stats');
});

test('fmd stats import-nginx-log counts a log in the fmd_stats format once, across re-runs and rotation', { timeout: 120_000 }, async () => {
  await createSignedRepo(s, 'nginxstats');
  const dir = s.services.repos.repoPath('nginxstats');
  await publishTestApp(dir);
  await s.services.repos.updateSummary('nginxstats');
  const commit = (await ostree.revParse(dir, b.app.ref))!;
  const mb64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64').replace(/=+$/, '').replaceAll('/', '_');
  const c = mb64(commit);
  const old = 'ab'.repeat(32);
  const when = new Date().toISOString().replace(/\.\d+Z$/, '+00:00');
  const line = (status: string, method: string, uri: string, range = '-', from = '-') => [when, status, method, uri, range, from].join('\t') + '\n';
  const commitUri = `/repo/nginxstats/objects/${commit.slice(0, 2)}/${commit.slice(2)}.commit`;
  const logFile = path.join(work, 'fmd-stats.log');
  await writeFile(
    logFile,
    line('200', 'GET', commitUri) + // install
      line('200', 'GET', commitUri, '-', old) + // update (Flatpak-Upgrade-From)
      line('200', 'GET', `/repo/nginxstats/deltas/${c.slice(0, 2)}/${c.slice(2)}/superblock`) + // install, from scratch
      line('200', 'GET', `/repo/nginxstats/deltas/${mb64(old).slice(0, 2)}/${mb64(old).slice(2)}-${c}/superblock`) + // update, from a delta
      line('304', 'GET', commitUri) +
      line('200', 'HEAD', commitUri) +
      line('206', 'GET', commitUri, 'bytes=100-') +
      line('404', 'GET', commitUri) +
      line('200', 'GET', '/repo/nginxstats/objects/00/' + '0'.repeat(62) + '.dirtree') +
      line('200', 'GET', '/repo/no-such-repo' + commitUri.slice('/repo/nginxstats'.length)) +
      'not a log line\n' +
      [when, '200', 'GET', commitUri, '-', '-'].join('\t'), // being written: no newline yet
  );
  const env = { DATABASE_URL: s.dbUrl, FMD_SECRET: s.secret, FMD_DATA_DIR: s.config.dataDir };
  const r1 = await runFmd(['stats', 'import-nginx-log', logFile], env);
  assert.equal(r1.code, 0, showRun(r1));
  assert.match(r1.stdout, /: 11 new line\(s\) from byte 0 to \d+, 5 download\(s\), 6 other/, showRun(r1));
  const refs = async () => (await downloads({ repo: 'nginxstats', appId: APP_ID })).refs.map((r: { installs: number; updates: number }) => [r.installs, r.updates]);
  // 5 counted, but the one for an unknown repo has no ref: 2 installs, 2 updates.
  assert.deepEqual(await refs(), [[2, 2]]);

  // Again: nothing new but the line that is now whole.
  await appendFile(logFile, '\n');
  const r2 = await runFmd(['stats', 'import-nginx-log', logFile], env);
  assert.match(r2.stdout, /: 1 new line\(s\) .*, 1 download\(s\), 0 other/, showRun(r2));
  assert.deepEqual(await refs(), [[3, 2]]);

  // Rotation: more lines, the file renamed, a new file; importing the old name reads its rest once.
  await appendFile(logFile, line('200', 'GET', commitUri, '-', old));
  const rotated = `${logFile}.1`;
  await rename(logFile, rotated);
  await writeFile(logFile, line('200', 'GET', commitUri));
  const r3 = await runFmd(['stats', 'import-nginx-log', rotated, logFile], env);
  assert.equal(r3.code, 0, showRun(r3));
  assert.match(r3.stdout, /fmd-stats\.log\.1: 1 new line\(s\).*1 download/, showRun(r3));
  assert.match(r3.stdout, /fmd-stats\.log: 1 new line\(s\) from byte 0 .*1 download/, showRun(r3));
  assert.deepEqual(await refs(), [[4, 3]]);

  const r4 = await runFmd(['stats', 'import-nginx-log', path.join(work, 'missing.log')], env);
  assert.equal(r4.code, 1, showRun(r4));
  assert.match(r4.stderr, /error: .*missing\.log: ENOENT/);
  const r5 = await runFmd(['stats', 'frobnicate'], env);
  assert.equal(r5.code, 2, showRun(r5));
  assert.deepEqual(await refs(), [[4, 3]], 'nothing changed');
});
