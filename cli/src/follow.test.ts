// Where following a build ends, for the states the live tests (builds.test.ts) do not reach
// every time: a git build built without auto-commit, an auto-commit refused, a publish under way
// or failed, a repo policy that publishes, a purge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOutcome, jobOutcome, type FollowedBuild, type FollowedJob } from './follow.ts';

const job = (number: number, kind: string, status: FollowedJob['status'], more: Partial<FollowedJob> = {}): FollowedJob => ({ number, kind, status, ...more });
const build = (b: Partial<Omit<FollowedBuild, 'jobs'>> & { jobs?: FollowedJob[] }): FollowedBuild => ({
  number: 7,
  state: 'READY',
  publishedState: 'UNPUBLISHED',
  repo: { name: 'apps' },
  source: { autoCommit: true, autoPublish: null },
  ...b,
  jobs: { edges: (b.jobs ?? []).map((node) => ({ node })) },
});

test('a git build built without auto-commit is over once its build job is, not before', () => {
  const building = build({ state: 'UPLOADING', source: { autoCommit: false }, jobs: [job(1, 'git-build', 'STARTED')] });
  assert.equal(buildOutcome(building, false), null);
  // The job's end sends no build event: what following the job found counts.
  assert.deepEqual(buildOutcome(building, false, new Map([[1, job(1, 'git-build', 'ENDED')]])), { outcome: 'succeeded', reason: null, reached: 'built' });
});

test('an auto-commit that was refused fails following; one queued goes on', () => {
  const built = build({ state: 'UPLOADING', jobs: [job(1, 'git-build', 'ENDED')] });
  assert.equal(buildOutcome(built, false)?.outcome, 'failed');
  assert.match(buildOutcome(built, false)!.reason!, /auto-commit was refused/);
  assert.equal(buildOutcome(build({ state: 'UPLOADING', jobs: [job(1, 'git-build', 'ENDED'), job(2, 'commit', 'NEW')] }), false), null);
  // An upload build waits for its uploads and a commit.
  assert.equal(buildOutcome(build({ state: 'UPLOADING', source: null }), false), null);
});

test('a committed build is over unless it publishes; a publish under way goes on; its failure fails', () => {
  assert.deepEqual(buildOutcome(build({}), false), { outcome: 'succeeded', reason: null, reached: 'committed' });
  assert.equal(buildOutcome(build({}), true), null);
  assert.equal(buildOutcome(build({ publishedState: 'PUBLISHING', source: null }), false), null);
  assert.deepEqual(buildOutcome(build({ publishedState: 'PUBLISHED' }), true), { outcome: 'succeeded', reason: null, reached: 'published' });
  const failed = buildOutcome(build({ publishedState: 'FAILED', jobs: [job(3, 'publish', 'BROKEN', { error: 'no space left' })] }), true);
  assert.deepEqual(failed, { outcome: 'failed', reason: 'the publish failed: no space left', reached: 'publish failed' });
});

test('failed, cancelled, superseded and purged builds are over with their reasons', () => {
  assert.deepEqual(buildOutcome(build({ state: 'FAILED', stateReason: 'check x failed' }), true), { outcome: 'failed', reason: 'check x failed', reached: 'failed' });
  assert.equal(buildOutcome(build({ state: 'CANCELLED', stateReason: 'by admin' }), true)?.outcome, 'cancelled');
  assert.equal(buildOutcome(build({ state: 'SUPERSEDED' }), true)?.reason, 'the build was superseded');
  assert.equal(buildOutcome(build({ state: 'PURGED' }), true)?.outcome, 'cancelled');
  for (const state of ['WAITING', 'CLONING', 'BUILDING', 'COMMITTING', 'VALIDATING']) assert.equal(buildOutcome(build({ state }), false), null, state);
});

test('a broken job failed, or was cancelled when asked to', () => {
  assert.deepEqual(jobOutcome(job(1, 'commit', 'BROKEN', { error: 'boom' })), { outcome: 'failed', reason: 'boom' });
  assert.deepEqual(jobOutcome(job(1, 'commit', 'BROKEN', { cancelRequested: true, error: 'cancelled' })), { outcome: 'cancelled', reason: 'cancelled' });
  assert.deepEqual(jobOutcome(job(1, 'commit', 'ENDED')), { outcome: 'succeeded', reason: null });
  assert.equal(jobOutcome(job(1, 'commit', 'STARTED')), null);
});
