// The scheduler's rules as pure functions: when a dependency lets its dependent start, wait or
// fail, and the order (or refusal) of a build set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidInputError } from '../../errors.ts';
import { dependencyVerdict, orderBuildSet, type DependencyFacts } from './scheduler.ts';
import { sweepIntervalMs } from './workers.ts';

const dep = (o: Partial<DependencyFacts>): DependencyFacts => ({ id: 12, state: 'READY', publishedState: 'UNPUBLISHED', repo: 'stable', updates: null, ...o });

test('a dependency is ready only once published and an update-repo job from its publish on has ended', () => {
  assert.equal(dependencyVerdict(dep({ publishedState: 'PUBLISHED', updates: [{ id: 5, status: 'ENDED' }] })).kind, 'ready');
  // The publish's own update failed, a later one (queued by another publish) ran: the summary has it.
  assert.equal(dependencyVerdict(dep({ publishedState: 'PUBLISHED', updates: [{ id: 5, status: 'BROKEN' }, { id: 9, status: 'ENDED' }] })).kind, 'ready');
  for (const updates of [null, [{ id: 5, status: 'NEW' as const }], [{ id: 5, status: 'STARTED' as const }], [{ id: 5, status: 'BROKEN' as const }, { id: 6, status: 'NEW' as const }]]) {
    const v = dependencyVerdict(dep({ publishedState: 'PUBLISHED', updates }));
    assert.deepEqual(v, { kind: 'waiting', reason: "waiting for the update of repo stable after build 12's publish" });
  }
  assert.deepEqual(dependencyVerdict(dep({ publishedState: 'PUBLISHED', updates: [{ id: 5, status: 'BROKEN' }] })), {
    kind: 'failed',
    reason: 'dependency build 12: the update of repo stable after its publish failed',
  });
});

test('a dependency still on its way makes its dependent wait, one that ended otherwise fails it', () => {
  for (const state of ['WAITING', 'CLONING', 'BUILDING', 'UPLOADING', 'COMMITTING', 'VALIDATING', 'READY'] as const) {
    assert.deepEqual(dependencyVerdict(dep({ state })), { kind: 'waiting', reason: `waiting for build 12 (${state.toLowerCase()}) to be published` });
  }
  assert.equal(dependencyVerdict(dep({ publishedState: 'PUBLISHING' })).kind, 'waiting');
  const failed: Array<[Partial<DependencyFacts>, string]> = [
    [{ state: 'FAILED' }, 'dependency build 12 failed'],
    [{ state: 'CANCELLED' }, 'dependency build 12 was cancelled'],
    [{ state: 'SUPERSEDED' }, 'dependency build 12 was superseded'],
    [{ state: 'PURGED' }, 'dependency build 12 was purged without being published'],
    [{ publishedState: 'FAILED' }, "dependency build 12's publish failed"],
  ];
  for (const [o, reason] of failed) assert.deepEqual(dependencyVerdict(dep(o)), { kind: 'failed', reason });
});

test('a build set is created in dependency order; duplicates, unknown keys, self-dependencies and cycles are refused by name', () => {
  const m = (key: string, ...dependsOn: string[]) => ({ key, dependsOn });
  const order = orderBuildSet([m('app', 'base', 'ext'), m('ext', 'base'), m('base')]).map((x) => x.key);
  assert.deepEqual(order, ['base', 'ext', 'app']);
  const refused = (members: ReturnType<typeof m>[], message: RegExp) =>
    assert.throws(() => orderBuildSet(members), (err: unknown) => err instanceof InvalidInputError && message.test(err.message));
  refused([m('a'), m('a')], /the key a is used twice/);
  refused([m('a', 'b')], /a depends on b, which is not in the set/);
  refused([m('a', 'a')], /a depends on itself/);
  refused([m('a', 'c'), m('b', 'a'), m('c', 'b')], /the dependencies form a cycle: a -> c -> b -> a/);
});

test('workers sweep every 10 s, faster when the stall limit is short', () => {
  assert.equal(sweepIntervalMs({ buildStallSecs: 900 }), 10_000);
  assert.equal(sweepIntervalMs({ buildStallSecs: 2 }), 500);
  assert.equal(sweepIntervalMs({ buildStallSecs: 1 }), 250);
});
