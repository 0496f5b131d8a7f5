// The build state machine without HTTP, MariaDB or ostree: every step from every (state,
// published state) pair, what it writes when allowed, the error when refused, and that the WHERE
// the database applies it with admits exactly the same pairs. The expectations are written out
// here on their own, not read from lifecycle.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BuildState, PublishedState } from '../../generated/prisma/client.ts';
import { allows, buildStates, change, publishedStates, refusal, requireStep, whereFrom, type BuildStatus, type BuildStep, type BuildStepName } from './lifecycle.ts';
import { BuildBusyError, WrongStateError } from './states.ts';

const pairs: BuildStatus[] = buildStates.flatMap((state) => publishedStates.map((publishedState) => ({ state, publishedState, stateReason: 'it broke' })));

function gitBuilding(b: BuildStatus): boolean {
  return ['WAITING', 'CLONING', 'BUILDING'].includes(b.state) && b.publishedState === 'UNPUBLISHED';
}

/** Each step with the pairs it may start from and what it writes from there. */
const expected: Array<{ s: BuildStep; from: (b: BuildStatus) => boolean; writes: object }> = [
  { s: { step: 'upload' }, from: (b) => b.state === 'UPLOADING', writes: {} },
  { s: { step: 'commit' }, from: (b) => b.state === 'UPLOADING', writes: { state: 'COMMITTING' } },
  { s: { step: 'committed', checks: 0 }, from: (b) => b.state === 'COMMITTING', writes: { state: 'READY' } },
  { s: { step: 'committed', checks: 2 }, from: (b) => b.state === 'COMMITTING', writes: { state: 'VALIDATING' } },
  { s: { step: 'commit-failed', reason: 'no refs' }, from: (b) => b.state === 'COMMITTING', writes: { state: 'FAILED', stateReason: 'no refs' } },
  { s: { step: 'checks-over', failed: [] }, from: (b) => b.state === 'VALIDATING', writes: { state: 'READY' } },
  { s: { step: 'checks-over', failed: ['lint', 'size'] }, from: (b) => b.state === 'VALIDATING', writes: { state: 'FAILED', stateReason: 'check lint, size failed' } },
  {
    s: { step: 'publish' },
    from: (b) => b.state === 'READY' && (b.publishedState === 'UNPUBLISHED' || b.publishedState === 'FAILED'),
    writes: { publishedState: 'PUBLISHING' },
  },
  { s: { step: 'published' }, from: (b) => b.publishedState === 'PUBLISHING', writes: { publishedState: 'PUBLISHED' } },
  { s: { step: 'publish-failed' }, from: (b) => b.publishedState === 'PUBLISHING', writes: { publishedState: 'FAILED' } },
  {
    s: { step: 'purge' },
    from: (b) => !['COMMITTING', 'PURGING', 'WAITING', 'CLONING', 'BUILDING'].includes(b.state) && b.publishedState !== 'PUBLISHING',
    writes: { state: 'PURGING' },
  },
  { s: { step: 'purged' }, from: (b) => b.state === 'PURGING', writes: { state: 'PURGED' } },
  { s: { step: 'purge-failed', reason: 'EBUSY' }, from: (b) => b.state === 'PURGING', writes: { state: 'FAILED', stateReason: 'Failed to Purge build: EBUSY' } },
  { s: { step: 'wait', reason: 'no worker builds aarch64' }, from: (b) => gitBuilding(b), writes: { state: 'WAITING', stateReason: 'no worker builds aarch64' } },
  { s: { step: 'clone' }, from: (b) => b.state === 'WAITING' && b.publishedState === 'UNPUBLISHED', writes: { state: 'CLONING', stateReason: null } },
  { s: { step: 'build' }, from: (b) => b.state === 'CLONING' && b.publishedState === 'UNPUBLISHED', writes: { state: 'BUILDING' } },
  { s: { step: 'built' }, from: (b) => b.state === 'BUILDING' && b.publishedState === 'UNPUBLISHED', writes: { state: 'UPLOADING' } },
  { s: { step: 'build-failed', reason: 'boom' }, from: (b) => gitBuilding(b), writes: { state: 'FAILED', stateReason: 'boom' } },
  { s: { step: 'cancel', reason: 'cancelled' }, from: (b) => gitBuilding(b), writes: { state: 'CANCELLED', stateReason: 'cancelled' } },
  { s: { step: 'supersede', reason: 'newer push' }, from: (b) => gitBuilding(b), writes: { state: 'SUPERSEDED', stateReason: 'newer push' } },
  {
    s: { step: 'supersede-ready', reason: 'superseded by build 9' },
    from: (b) => b.state === 'READY' && (b.publishedState === 'UNPUBLISHED' || b.publishedState === 'FAILED'),
    writes: { state: 'SUPERSEDED', stateReason: 'superseded by build 9' },
  },
];

/** Evaluates whereFrom's Prisma filter the way the database would, on one pair. */
function matches(where: ReturnType<typeof whereFrom>, b: BuildStatus): boolean {
  return (!where.state || where.state.in.includes(b.state)) && (!where.publishedState || where.publishedState.in.includes(b.publishedState));
}

test('every step of the build state machine is covered here', () => {
  const steps: BuildStepName[] = [
    'upload', 'commit', 'committed', 'commit-failed', 'checks-over', 'publish', 'published', 'publish-failed', 'purge', 'purged', 'purge-failed',
    'wait', 'clone', 'build', 'built', 'build-failed', 'cancel', 'supersede', 'supersede-ready',
  ];
  assert.deepEqual([...new Set(expected.map((e) => e.s.step))].sort(), [...steps].sort());
  assert.equal(pairs.length, 48);
});

for (const { s, from, writes } of expected) {
  test(`${JSON.stringify(s)}: starts from exactly its states, writes what it should, and the WHERE agrees`, () => {
    const allowed = pairs.filter(from);
    assert.ok(allowed.length > 0, 'a step nothing can take is a dead rule');
    for (const b of pairs) {
      const label = `${b.state}/${b.publishedState}`;
      assert.equal(allows(b, s.step), from(b), `allows ${label}`);
      assert.equal(matches(whereFrom(s.step), b), from(b), `whereFrom ${label}`);
      assert.equal(refusal(b, s.step) === null, from(b), `refusal ${label}`);
    }
    assert.deepEqual(change(s), writes);
  });
}

const refusalOf = (state: BuildState, publishedState: PublishedState, step: BuildStepName) => {
  const err = refusal({ state, publishedState, stateReason: 'it broke' }, step);
  assert.ok(err, `${step} from ${state}/${publishedState} is refused`);
  return err;
};

test('upload refusals: every state but uploading, in flat-manager words', () => {
  for (const state of buildStates.filter((s) => s !== 'UPLOADING')) {
    const err = refusalOf(state, 'UNPUBLISHED', 'upload');
    assert.ok(err instanceof WrongStateError);
    assert.equal(err.errorType, 'wrong-repo-state');
    assert.equal(err.message, `Build is ${state.toLowerCase()}, uploads are closed`);
    assert.equal(err.currentState, state.toLowerCase());
    assert.equal(err.expectedState, 'uploading');
  }
});

test('commit refusals: being committed, already committed, failed (with its reason), purged', () => {
  const cases: Array<[BuildState, string]> = [
    ['COMMITTING', 'Build is currently being commited'],
    ['VALIDATING', 'Build is already commited'],
    ['READY', 'Build is already commited'],
    ['FAILED', 'Commit already failed: it broke'],
    ['PURGING', 'Build has been purged'],
    ['PURGED', 'Build has been purged'],
  ];
  for (const [state, message] of cases) {
    const err = refusalOf(state, 'UNPUBLISHED', 'commit');
    assert.ok(err instanceof WrongStateError);
    assert.deepEqual([err.errorType, err.message, err.currentState, err.expectedState], ['wrong-repo-state', message, state.toLowerCase(), 'uploading']);
  }
  assert.equal(refusal({ state: 'FAILED', publishedState: 'UNPUBLISHED', stateReason: null }, 'commit')?.message, 'Commit already failed: Unknown reason');
});

test('publish refusals: the published state first (publishing, published), then the repo state', () => {
  for (const state of buildStates) {
    const publishing = refusalOf(state, 'PUBLISHING', 'publish') as WrongStateError;
    assert.deepEqual([publishing.errorType, publishing.message, publishing.currentState], ['wrong-published-state', 'Build is currently being published', 'publishing']);
    const published = refusalOf(state, 'PUBLISHED', 'publish') as WrongStateError;
    assert.deepEqual([published.errorType, published.message, published.currentState], ['wrong-published-state', 'Build has already been published', 'published']);
  }
  const cases: Array<[BuildState, string]> = [
    ['UPLOADING', 'Build is not commited'],
    ['COMMITTING', 'Build is not commited'],
    ['VALIDATING', 'Build is not commited'],
    ['FAILED', 'Build failed: it broke'],
    ['PURGING', 'Build has been purged'],
    ['PURGED', 'Build has been purged'],
  ];
  for (const [state, message] of cases) {
    for (const ps of ['UNPUBLISHED', 'FAILED'] as const) {
      const err = refusalOf(state, ps, 'publish') as WrongStateError;
      assert.deepEqual([err.errorType, err.message, err.currentState, err.expectedState], ['wrong-repo-state', message, state.toLowerCase(), 'ready']);
    }
  }
});

const building = ['WAITING', 'CLONING', 'BUILDING'];

test('purge refusals: while committing, purging or publishing the build is in use; a git build still building must be cancelled first', () => {
  const busy = pairs.filter((b) => b.state === 'COMMITTING' || b.state === 'PURGING' || b.publishedState === 'PUBLISHING');
  assert.equal(busy.length, 2 * 4 + 10);
  for (const b of busy) {
    const err = refusalOf(b.state, b.publishedState, 'purge');
    assert.ok(err instanceof BuildBusyError);
    assert.equal(err.message, "Can't prune build while in use");
  }
  for (const b of pairs.filter((p) => building.includes(p.state) && p.publishedState !== 'PUBLISHING')) {
    const err = refusalOf(b.state, b.publishedState, 'purge');
    assert.ok(err instanceof BuildBusyError);
    assert.equal(err.message, `Build is ${b.state.toLowerCase()}: cancel it before purging`);
  }
});

test('a git build: waiting, cloning, building, then its refs are uploaded; cancel and supersede only before that', () => {
  let b: BuildStatus = { state: 'WAITING', publishedState: 'UNPUBLISHED', stateReason: 'waiting for build 1' };
  const apply = (s: BuildStep) => {
    requireStep(b, s.step);
    b = { ...b, ...change(s) };
    return `${b.state}/${b.stateReason}`;
  };
  assert.deepEqual(
    [apply({ step: 'clone' }), apply({ step: 'build' }), apply({ step: 'built' }), apply({ step: 'commit' })],
    ['CLONING/null', 'BUILDING/null', 'UPLOADING/null', 'COMMITTING/null'],
  );
  assert.throws(() => apply({ step: 'cancel', reason: 'x' }), /only a git build that is waiting, cloning or building can be cancelled/);
  for (const state of building as BuildState[]) {
    b = { state, publishedState: 'UNPUBLISHED', stateReason: null };
    assert.equal(apply({ step: 'cancel', reason: 'cancelled by x' }), 'CANCELLED/cancelled by x');
    b = { state, publishedState: 'UNPUBLISHED', stateReason: null };
    assert.equal(apply({ step: 'supersede', reason: 'superseded by build 9' }), 'SUPERSEDED/superseded by build 9');
    b = { state, publishedState: 'UNPUBLISHED', stateReason: null };
    assert.equal(apply({ step: 'build-failed', reason: 'flatpak-builder exited with code 1' }), 'FAILED/flatpak-builder exited with code 1');
  }
  b = { state: 'CANCELLED', publishedState: 'UNPUBLISHED', stateReason: null };
  assert.equal(apply({ step: 'purge' }), 'PURGING/null');
});

test('the end of a job finds the build moved on: refused, so the job writes nothing', () => {
  assert.throws(() => requireStep({ state: 'PURGED', publishedState: 'UNPUBLISHED', stateReason: null }, 'committed'), WrongStateError);
  assert.throws(() => requireStep({ state: 'READY', publishedState: 'FAILED', stateReason: null }, 'published'), WrongStateError);
  assert.throws(() => requireStep({ state: 'READY', publishedState: 'UNPUBLISHED', stateReason: null }, 'checks-over'), WrongStateError);
});

test('a whole life: upload, commit, checks, publish, a failed publish published again, purge', () => {
  let b: BuildStatus = { state: 'UPLOADING', publishedState: 'UNPUBLISHED', stateReason: null };
  const apply = (s: BuildStep) => {
    requireStep(b, s.step);
    b = { ...b, ...change(s) };
    return `${b.state}/${b.publishedState}`;
  };
  const path = [
    apply({ step: 'upload' }),
    apply({ step: 'commit' }),
    apply({ step: 'committed', checks: 1 }),
    apply({ step: 'checks-over', failed: [] }),
    apply({ step: 'publish' }),
    apply({ step: 'publish-failed' }),
    apply({ step: 'publish' }),
    apply({ step: 'published' }),
    apply({ step: 'purge' }),
    apply({ step: 'purged' }),
  ];
  assert.deepEqual(path, [
    'UPLOADING/UNPUBLISHED',
    'COMMITTING/UNPUBLISHED',
    'VALIDATING/UNPUBLISHED',
    'READY/UNPUBLISHED',
    'READY/PUBLISHING',
    'READY/FAILED',
    'READY/PUBLISHING',
    'READY/PUBLISHED',
    'PURGING/PUBLISHED',
    'PURGED/PUBLISHED',
  ]);
  assert.throws(() => apply({ step: 'upload' }), /uploads are closed/);
  assert.throws(() => apply({ step: 'publish' }), /already been published/);
});
