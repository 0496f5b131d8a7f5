// Promotion: a build published in beta is published again into stable (stable's parent is beta)
// by promoteBuild and by stable's autoPromote rule, through the publish job: stable gets its own
// commits (its collection id, its key), a stock flatpak client installs and runs the app from it,
// promotions chain on (stable -> lts), a delayed auto-promotion is skipped when a newer build
// supersedes it, and bad requests get typed errors and change nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { jobEnded, startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo, installAndRun, testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { APP_ID, tempDir } from './kit/flatpak-fixtures.ts';
import { FlatManagerClient, request } from './kit/flat-manager-client.ts';
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

/** A build of the runtime and app (or of `refs`) in `repo`, committed (READY), not published. */
async function committedBuild(repo: string, refs = uploaded): Promise<number> {
  const build = await client.createBuild(repo);
  if (refs[b.app.ref]) await client.push(build.url, b.appRepo, { [b.app.ref]: refs[b.app.ref]! });
  const rest = Object.fromEntries(Object.entries(refs).filter(([r]) => r !== b.app.ref));
  await client.push(build.url, b.runtimeRepo, rest);
  const commit = await client.startJob(build.url, 'commit');
  assert.equal((await client.waitForJob(commit.url)).job.status, 2);
  return build.id;
}

/** Publishes a build into its repo; answers the publish job's number. */
async function publish(n: number): Promise<number> {
  const r = await gql(`mutation($n: Int!) { publishBuild(input: { build: $n }) { __typename ... on BuildJobPayload { job { number } } } }`, { n });
  assert.equal(r.publishBuild.__typename, 'BuildJobPayload');
  await pollFor(async () => (await gql(`query($n: Int!) { build(number: $n) { publishedState } }`, { n })).build.publishedState === 'PUBLISHED', 120_000, 100);
  return r.publishBuild.job.number;
}

/** What flat-manager clients see of the build's publish: publish_job_id and the job behind the publish Location. */
async function restPublishJob(n: number) {
  const build = await request('GET', `${s.url}/api/v1/build/${n}`, { token: s.adminToken });
  const job = await request('GET', `${s.url}/api/v1/build/${n}/publish`, { token: s.adminToken, json: {} });
  return { publishJobId: build.body.publish_job_id, locationJob: job.body };
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
      // A target being deleted is no longer a visible repo: its promotions show targetRepo null.
      const into = (await promotions(n)).filter((p) => p.targetRepo?.name === repo);
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
  assert.equal(notInParent.__typename, 'InvalidInputError');
  assert.match(notInParent.message, /repo lts takes promotions from stable, where build \d+ is not \(it is in: beta\)/);
  const betaOnly = (await gql(`mutation { createToken(input: { name: "beta only", scopes: ["publish", "build"], repos: ["beta"], durationSeconds: 600 }) { ... on CreateTokenPayload { token } } }`)).createToken.token;
  const forbidden = await promote(n, 'stable', betaOnly);
  assert.equal(forbidden.__typename, 'ForbiddenError', JSON.stringify(forbidden));
  assert.deepEqual(await promotions(n), []);
  assert.deepEqual(await ostree.listRefs(s.services.repos.repoPath('stable')), []);

  // A token for this one build (flat-manager's sub build/N) may promote it, as it may publish it.
  const buildToken = (
    await gql(`mutation($sub: String!) { createToken(input: { name: "build only", subject: $sub, scopes: ["publish", "build"], durationSeconds: 600 }) { ... on CreateTokenPayload { token } } }`, { sub: `build/${n}` })
  ).createToken.token;
  const started = await promote(n, 'stable', buildToken);
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

  // Promoting it again would only make the same content a new commit.
  const twice = await promote(n, 'stable');
  assert.equal(twice.__typename, 'WrongStateError', JSON.stringify(twice));
  assert.match(twice.message, /already promoted: repo stable serves its commits/);

  // The chain goes on: stable -> lts takes stable's commits.
  const chained = await promote(n, 'lts');
  assert.equal(chained.__typename, 'PromoteBuildPayload', JSON.stringify(chained));
  assert.equal(chained.promotion.sourceRepo.name, 'stable');
  const lts = await promotionEnded(n, 'lts');
  assert.equal(lts.state, 'PROMOTED', JSON.stringify(lts));
  assert.equal(await ostree.revParse(s.services.repos.repoPath('lts'), b.app.ref), lts.refs.find((r: any) => r.ref === b.app.ref).commit);

  // An end-of-life republish in beta: the build now records beta's new commit, so a promotion
  // from here on carries the end-of-life.
  const rep = await gql(`mutation { republishApp(input: { repo: "beta", app: "${APP_ID}", endOfLife: "use something else" }) { ... on BuildJobPayload { job { number } } } }`);
  await jobEnded(s, rep.republishApp.job.number);
  await updatesDone('beta');
  await updatesDone('lts');
  const now = (await gql(`query($n: Int!) { build(number: $n) { publishedRefs { ref commit } } }`, { n })).build.publishedRefs as any[];
  assert.equal(now.find((r) => r.ref === b.app.ref).commit, await ostree.revParse(s.services.repos.repoPath('beta'), b.app.ref));
  assert.notEqual(now.find((r) => r.ref === b.app.ref).commit, published.find((r) => r.ref === b.app.ref).commit);
});

test('autoPromote: builds landing in beta reach stable after the delay; a superseded one is skipped; prefixes filter', { timeout: 600_000 }, async () => {
  const bad = await s.gql(`mutation { updateRepo(input: { name: "beta", autoPromote: { delaySecs: 0 } }) { __typename ... on Error { message } } }`);
  assert.equal(bad.body.data.updateRepo.__typename, 'InvalidInputError', 'beta has no parent');

  // Two builds close together: the first waits out the delay, finds a newer build in beta, and is skipped.
  // (The delays leave a slow machine room for the publishes and changes that must come first.)
  const r = await gql(`mutation { updateRepo(input: { name: "stable", autoPromote: { delaySecs: 12 } }) { __typename ... on RepoPayload { repo { autoPromote { delaySecs appIdPrefixes } } } } }`);
  assert.deepEqual(r.updateRepo.repo.autoPromote, { delaySecs: 12, appIdPrefixes: [] });
  const first = await committedBuild('beta');
  const second = await committedBuild('beta');
  await publish(first);
  await pollFor(async () => (await promotions(first)).length === 1, 30_000, 100);
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
  assert.equal(await ostree.revParse(s.services.repos.repoPath('stable'), b.app.ref), promoted.refs.find((x: any) => x.ref === b.app.ref).commit);

  // A newer build of only the runtime supersedes just the runtime: the app still goes on.
  const full = await committedBuild('beta');
  const runtimeOnly = await committedBuild('beta', Object.fromEntries(Object.entries(uploaded).filter(([ref]) => ref !== b.app.ref)));
  await publish(full);
  await publish(runtimeOnly);
  const partial = await promotionEnded(full, 'stable');
  assert.equal(partial.state, 'PROMOTED', JSON.stringify(partial));
  assert.deepEqual(partial.refs.map((x: any) => x.ref), [b.app.ref]);
  assert.match(partial.reason, /left out, superseded in repo beta/);
  assert.equal((await promotionEnded(runtimeOnly, 'stable')).state, 'PROMOTED');
  await updatesDone('stable');
  const stableApp = await ostree.revParse(s.services.repos.repoPath('stable'), b.app.ref);
  assert.equal(stableApp, partial.refs[0].commit);

  // While a promotion waits: flat-manager clients still see the build's own publish job; a rule
  // changed meanwhile is obeyed (the promotion ends SKIPPED); a target deleted meanwhile cancels it.
  await gql(`mutation { updateRepo(input: { name: "stable", autoPromote: { delaySecs: 10 } }) { __typename } }`);
  await createSignedRepo(s, 'doomed', { parent: 'beta', autoPromote: { delaySecs: 60 } });
  const third = await committedBuild('beta');
  const ownPublish = await publish(third);
  // (The publish job starts the auto-promotions right after the build is published.)
  const waiting = await pollFor(async () => {
    const list = await promotions(third);
    // A promotion row is written before its job is queued and linked to it.
    return list.length === 2 && list.every((p) => p.job) ? list : null;
  }, 30_000, 100);
  assert.deepEqual(waiting.map((p) => [p.targetRepo.name, p.state]).sort(), [['doomed', 'PROMOTING'], ['stable', 'PROMOTING']]);
  const seen = await restPublishJob(third);
  assert.equal(seen.publishJobId, ownPublish);
  assert.equal(seen.locationJob.id, ownPublish);
  assert.equal(JSON.parse(seen.locationJob.contents).promotion, undefined);
  await gql(`mutation { updateRepo(input: { name: "stable", autoPromote: { delaySecs: 0, appIdPrefixes: ["org.other"] } }) { __typename } }`);
  const doomedJob = waiting.find((p) => p.targetRepo.name === 'doomed').job.number;
  assert.equal((await gql(`mutation { deleteRepo(input: { name: "doomed" }) { __typename } }`)).deleteRepo.__typename, 'DeleteRepoPayload');
  assert.equal((await s.services.jobs.get(doomedJob))?.error, 'cancelled');
  const obeyed = await promotionEnded(third, 'stable');
  assert.equal(obeyed.state, 'SKIPPED', JSON.stringify(obeyed));
  assert.match(obeyed.reason, /autoPromote rule of repo stable no longer takes this build/);
  assert.equal(await ostree.revParse(s.services.repos.repoPath('stable'), b.app.ref), stableApp);

  // A rule for other app ids leaves this app in beta.
  const fourth = await committedBuild('beta');
  await publish(fourth);
  await updatesDone('beta');
  assert.deepEqual(await promotions(fourth), []);
  assert.equal(await ostree.revParse(s.services.repos.repoPath('stable'), b.app.ref), stableApp);
  const emptyPrefix = await s.gql(`mutation { updateRepo(input: { name: "stable", autoPromote: { appIdPrefixes: [""] } }) { __typename ... on InvalidInputError { field } } }`);
  assert.equal(emptyPrefix.body.data.updateRepo.__typename, 'InvalidInputError');

  // Clearing the rule.
  const cleared = await gql(`mutation { updateRepo(input: { name: "stable", autoPromote: null }) { ... on RepoPayload { repo { autoPromote { delaySecs } } } } }`);
  assert.equal(cleared.updateRepo.repo.autoPromote, null);

  // A repo whose parent was deleted keeps its (now idle) rule and stays editable.
  await createSignedRepo(s, 'oparent');
  await createSignedRepo(s, 'orphan', { parent: 'oparent', autoPromote: { delaySecs: null } });
  const del = await gql(`mutation { deleteRepo(input: { name: "oparent" }) { ... on DeleteRepoPayload { job { number } } } }`);
  await jobEnded(s, del.deleteRepo.job.number);
  const edited = await gql(`mutation { updateRepo(input: { name: "orphan", title: "Orphan" }) { __typename ... on RepoPayload { job { number } } ... on Error { message } } }`);
  assert.equal(edited.updateRepo.__typename, 'RepoPayload', JSON.stringify(edited));
  await jobEnded(s, edited.updateRepo.job.number); // (the new title reaches the summary through it)
});
