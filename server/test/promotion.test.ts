// Promotion: a build published in beta is published again into stable (stable's parent is beta)
// by promoteBuild and by stable's autoPromote rule, through the publish job: stable gets its own
// commits (its collection id, its key), a stock flatpak client installs and runs the app from it,
// promotions chain on (stable -> lts), a delayed auto-promotion is skipped when a newer build
// supersedes it, and bad requests get typed errors and change nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo, installAndRun, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { tempDir } from './kit/flatpak-fixtures.ts';
import { FlatManagerClient } from './kit/flat-manager-client.ts';
import { runTool } from '../src/ostree/exec.ts';
import * as ostree from '../src/ostree/ostree.ts';

let s: TestServer;
let b: Builds;
let work: string;
let client: FlatManagerClient;
let uploaded: Record<string, string>;

async function gql(query: string, variables?: Record<string, unknown>, token?: string) {
  const r = await s.gql(query, variables, token);
  assert.ok(!r.body.errors, JSON.stringify(r.body.errors));
  return r.body.data;
}

const PROMOTION = 'number state auto reason sourceRepo { name } targetRepo { name } refs { ref commit } job { number status }';

/** A build of the runtime and app in `repo`, committed (READY), not published. */
async function committedBuild(repo: string, refs = uploaded): Promise<number> {
  const build = await client.createBuild(repo);
  await client.push(build.url, b.appRepo, { [b.app.ref]: refs[b.app.ref]! });
  const rest = Object.fromEntries(Object.entries(refs).filter(([r]) => r !== b.app.ref));
  await client.push(build.url, b.runtimeRepo, rest);
  const commit = await client.startJob(build.url, 'commit');
  assert.equal((await client.waitForJob(commit.url)).job.status, 2);
  return build.id;
}

async function publish(n: number): Promise<void> {
  const r = await gql(`mutation($n: Int!) { publishBuild(input: { build: $n }) { __typename ... on BuildJobPayload { job { number } } } }`, { n });
  assert.equal(r.publishBuild.__typename, 'BuildJobPayload');
  await pollFor(async () => (await gql(`query($n: Int!) { build(number: $n) { publishedState } }`, { n })).build.publishedState === 'PUBLISHED', 120_000, 100);
}

async function promotions(n: number) {
  return (await gql(`query($n: Int!) { build(number: $n) { promotions { ${PROMOTION} } } }`, { n })).build.promotions as any[];
}

async function promote(n: number, targetRepo: string, token?: string) {
  const r = await gql(
    `mutation($i: PromoteBuildInput!) { promoteBuild(input: $i) { __typename ... on PromoteBuildPayload { promotion { ${PROMOTION} } } ... on Error { message errorType } } }`,
    { i: { build: n, targetRepo } },
    token,
  );
  return r.promoteBuild;
}

/** Waits for the build's promotion into `repo` to end; returns it. */
async function promotionEnded(n: number, repo: string, count = 1) {
  return pollFor(
    async () => {
      const into = (await promotions(n)).filter((p) => p.targetRepo.name === repo);
      return into.length >= count && into[count - 1].state !== 'PROMOTING' ? into[count - 1] : null;
    },
    120_000,
    200,
  );
}

/** Waits until the repo's queued update-repo jobs have all run. */
async function updatesDone(repo: string) {
  await pollFor(async () => (await s.services.prisma.job.count({ where: { kind: 'update-repo', repo, status: { in: ['NEW', 'STARTED'] } } })) === 0, 120_000, 100);
}

before(async () => {
  s = await startTestServer({ 'delay-update-secs': 0, 'job-poll-ms': 200 });
  b = await testBuilds();
  work = await tempDir('fmd-promotion-');
  client = new FlatManagerClient(s.url, s.adminToken);
  uploaded = { [b.app.ref]: b.app.commit };
  for (const ref of b.runtimeRefs) uploaded[ref] = (await ostree.revParse(b.runtimeRepo, ref))!;
  await createSignedRepo(s, 'beta', { deltaSettings: { generate: true } });
  await createSignedRepo(s, 'stable', { parent: 'beta', deltaSettings: { generate: true } });
  await createSignedRepo(s, 'lts', { parent: 'stable' });
});
after(async () => {
  await s?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('promoteBuild: beta -> stable with its own commits, key and collection id; flatpak installs it from stable; chains on to lts', { timeout: 600_000 }, async () => {
  const n = await committedBuild('beta');

  // Not published yet: nothing to promote.
  const early = await promote(n, 'stable');
  assert.equal(early.__typename, 'WrongStateError', JSON.stringify(early));
  assert.match(early.message, /only published builds can be promoted/);

  await publish(n);
  const published = (await gql(`query($n: Int!) { build(number: $n) { publishedRefs { ref commit } } }`, { n })).build.publishedRefs as any[];
  assert.deepEqual(published.map((r) => r.ref).sort(), Object.keys(uploaded).sort());

  // Bad targets change nothing.
  const noParent = await promote(n, 'beta');
  assert.equal(noParent.__typename, 'InvalidInputError');
  assert.match(noParent.message, /no parent repo/);
  const missing = await promote(n, 'nope');
  assert.equal(missing.__typename, 'InvalidInputError');
  const notInParent = await promote(n, 'lts');
  assert.equal(notInParent.__typename, 'WrongStateError');
  assert.match(notInParent.message, /not been published or promoted in repo stable/);
  const betaOnly = (await gql(`mutation { createToken(input: { name: "beta only", scopes: ["publish", "build"], repos: ["beta"], durationSeconds: 600 }) { ... on CreateTokenPayload { token } } }`)).createToken.token;
  const forbidden = await promote(n, 'stable', betaOnly);
  assert.equal(forbidden.__typename, 'ForbiddenError', JSON.stringify(forbidden));
  assert.deepEqual(await promotions(n), []);
  assert.deepEqual(await ostree.listRefs(s.services.repos.repoPath('stable')), []);

  const started = await promote(n, 'stable');
  assert.equal(started.__typename, 'PromoteBuildPayload', JSON.stringify(started));
  assert.equal(started.promotion.auto, false);
  assert.equal(started.promotion.sourceRepo.name, 'beta');
  const done = await promotionEnded(n, 'stable');
  assert.equal(done.state, 'PROMOTED', JSON.stringify(done));
  await updatesDone('stable');

  // stable has the same refs as new commits of its own: bound to its collection, signed by its key.
  const stable = s.services.repos.repoPath('stable');
  const refs: Record<string, string> = Object.fromEntries((done.refs as any[]).map((r) => [r.ref, r.commit]));
  assert.deepEqual(Object.keys(refs).sort(), Object.keys(uploaded).sort());
  for (const [ref, commit] of Object.entries(refs)) {
    assert.equal(await ostree.revParse(stable, ref), commit);
    const betaCommit = published.find((p) => p.ref === ref).commit;
    assert.notEqual(commit, betaCommit, 'a commit of its own');
    const { stdout } = await runTool('ostree', ['show', `--repo=${stable}`, '--print-metadata-key=ostree.collection-binding', commit]);
    assert.match(stdout, /org\.fmd\.stable/);
  }
  assert.ok((await runTool('ostree', ['ls', `--repo=${stable}`, refs[b.app.ref]!, '/files/bin'])).stdout.length > 0);
  await ostree.fsck(stable, { quiet: true });
  const out = await installAndRun(path.join(work, 'client-stable'), { url: `${s.url}/repo/stable.flatpakrepo` });
  assert.match(out, new RegExp(b.app.message));

  // The chain goes on: stable -> lts takes stable's commits.
  const chained = await promote(n, 'lts');
  assert.equal(chained.__typename, 'PromoteBuildPayload', JSON.stringify(chained));
  assert.equal(chained.promotion.sourceRepo.name, 'stable');
  const lts = await promotionEnded(n, 'lts');
  assert.equal(lts.state, 'PROMOTED', JSON.stringify(lts));
  assert.equal(await ostree.revParse(s.services.repos.repoPath('lts'), b.app.ref), lts.refs.find((r: any) => r.ref === b.app.ref).commit);
});

test('autoPromote: builds landing in beta reach stable after the delay; a superseded one is skipped; prefixes filter', { timeout: 600_000 }, async () => {
  const bad = await s.gql(`mutation { updateRepo(input: { name: "beta", autoPromote: { delaySecs: 0 } }) { __typename ... on Error { message } } }`);
  assert.equal(bad.body.data.updateRepo.__typename, 'InvalidInputError', 'beta has no parent');

  // Two builds close together: the first waits out the delay, finds a newer build in beta, and is skipped.
  const r = await gql(`mutation { updateRepo(input: { name: "stable", autoPromote: { delaySecs: 6 } }) { __typename ... on RepoPayload { repo { autoPromote { delaySecs appIdPrefixes } } } } }`);
  assert.deepEqual(r.updateRepo.repo.autoPromote, { delaySecs: 6, appIdPrefixes: [] });
  const first = await committedBuild('beta');
  const second = await committedBuild('beta');
  await publish(first);
  // While its auto-promotion waits, the build cannot be promoted into stable a second time.
  const busy = await promote(first, 'stable');
  assert.equal(busy.__typename, 'WrongStateError', JSON.stringify(busy));
  assert.match(busy.message, /already being promoted/);
  await publish(second);
  const skipped = await promotionEnded(first, 'stable');
  assert.equal(skipped.state, 'SKIPPED', JSON.stringify(skipped));
  assert.equal(skipped.auto, true);
  assert.match(skipped.reason, /superseded/);
  const promoted = await promotionEnded(second, 'stable');
  assert.equal(promoted.state, 'PROMOTED', JSON.stringify(promoted));
  await updatesDone('stable');
  const stableApp = await ostree.revParse(s.services.repos.repoPath('stable'), b.app.ref);
  assert.equal(stableApp, promoted.refs.find((x: any) => x.ref === b.app.ref).commit);

  // A rule for other app ids leaves this app in beta.
  await gql(`mutation { updateRepo(input: { name: "stable", autoPromote: { delaySecs: 0, appIdPrefixes: ["org.other"] } }) { __typename } }`);
  const third = await committedBuild('beta');
  await publish(third);
  await updatesDone('beta');
  assert.deepEqual(await promotions(third), []);
  assert.equal(await ostree.revParse(s.services.repos.repoPath('stable'), b.app.ref), stableApp);

  // Clearing the rule.
  const cleared = await gql(`mutation { updateRepo(input: { name: "stable", autoPromote: null }) { ... on RepoPayload { repo { autoPromote { delaySecs } } } } }`);
  assert.equal(cleared.updateRepo.repo.autoPromote, null);
});
