// The pure rules of the build, job and home pages: which actions a build state offers, paging
// through the URL, filters matched against live events, error fields mapped to inputs, and the
// home page's chart figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BuildState, PublishedState } from '@fmd/sdk';
import { allowedActions, buildMatches, inputFieldName, jobMatches, pageArgs, promoteTargets, shortGitUrl, withQuery, type Build, type Job } from './builds-shared.ts';
import { chartData, dayToUnix, durationFormat, hasData, percent, successRates } from './dashboard-data.ts';

const st = (state: BuildState, publishedState: PublishedState = 'UNPUBLISHED', commit: string | null | undefined = undefined) => ({
  state,
  publishedState,
  source: commit === undefined ? null : { commit },
});

test('actions follow the server state machine', () => {
  assert.deepEqual(allowedActions(st('UPLOADING')), ['commit', 'purge']);
  assert.deepEqual(allowedActions(st('COMMITTING')), []);
  assert.deepEqual(allowedActions(st('VALIDATING')), ['purge']);
  assert.deepEqual(allowedActions(st('READY')), ['publish', 'purge']);
  assert.deepEqual(allowedActions(st('READY', 'FAILED')), ['publish', 'purge'], 'a failed publish may be published again');
  assert.deepEqual(allowedActions(st('READY', 'PUBLISHING')), []);
  assert.deepEqual(allowedActions(st('READY', 'PUBLISHED')), ['promote', 'purge']);
  assert.deepEqual(allowedActions(st('FAILED')), ['purge']);
  assert.deepEqual(allowedActions(st('PURGED')), []);
  assert.deepEqual(allowedActions(st('PURGING')), []);
  // git builds
  assert.deepEqual(allowedActions(st('WAITING', 'UNPUBLISHED', null)), ['cancel']);
  assert.deepEqual(allowedActions(st('BUILDING', 'UNPUBLISHED', 'abc')), ['cancel', 'rebuild']);
  assert.deepEqual(allowedActions(st('FAILED', 'UNPUBLISHED', 'abc')), ['rebuild', 'purge']);
  assert.deepEqual(allowedActions(st('FAILED', 'UNPUBLISHED', null)), ['purge'], 'never cloned: nothing to rebuild from');
  assert.deepEqual(allowedActions(st('CANCELLED', 'UNPUBLISHED', 'abc')), ['rebuild', 'purge']);
  assert.deepEqual(allowedActions(st('UPLOADING', 'UNPUBLISHED', 'abc')), ['commit', 'rebuild', 'purge']);
});

test('promote targets: children of the build repo or of repos it was promoted into, not those it is in', () => {
  const repos = [
    { name: 'beta', parent: null },
    { name: 'stable', parent: { name: 'beta' } },
    { name: 'lts', parent: { name: 'stable' } },
    { name: 'other', parent: { name: 'x' } },
  ];
  const b = { repo: { name: 'beta' }, promotions: [] as Build['promotions'] };
  assert.deepEqual(promoteTargets(b, repos), ['stable']);
  const promoted = { ...b, promotions: [{ state: 'PROMOTED', targetRepo: { name: 'stable' } }] as Build['promotions'] };
  assert.deepEqual(promoteTargets(promoted, repos), ['lts']);
});

test('page arguments come from the URL: after pages forward, before pages back', () => {
  assert.deepEqual(pageArgs(new URLSearchParams('')), { first: 25 });
  assert.deepEqual(pageArgs(new URLSearchParams('after=A')), { first: 25, after: 'A' });
  assert.deepEqual(pageArgs(new URLSearchParams('before=B&after=A')), { last: 25, before: 'B' });
  assert.equal(withQuery('/builds', new URLSearchParams('repo=main&after=A'), { after: null, before: 'B' }), '/builds?repo=main&before=B');
  assert.equal(withQuery('/builds', new URLSearchParams('after=A'), { after: '' }), '/builds');
});

test('live events are matched against the list filters', () => {
  const b = { repo: { name: 'main' }, state: 'READY', appId: 'org.example.App', publishedState: 'PUBLISHED' } as Build;
  assert.equal(buildMatches(b, new URLSearchParams('')), true);
  assert.equal(buildMatches(b, new URLSearchParams('repo=main&state=READY&appId=org.example.App&published=PUBLISHED')), true);
  assert.equal(buildMatches(b, new URLSearchParams('repo=beta')), false);
  assert.equal(buildMatches(b, new URLSearchParams('state=FAILED')), false);
  const now = { ...b, createdAt: '2026-12-03T08:00:00.000Z' } as Build;
  assert.equal(buildMatches(now, new URLSearchParams('to=2026-12-02')), false, 'a list that ends before the build was created');
  assert.equal(buildMatches(now, new URLSearchParams('to=2026-12-03')), true, 'the end day is included');
  const j = { kind: 'commit', status: 'STARTED', repo: 'main' } as Job;
  assert.equal(jobMatches(j, new URLSearchParams('kind=commit&status=STARTED&repo=main')), true);
  assert.equal(jobMatches(j, new URLSearchParams('kind=publish')), false);
});

test('error fields map to the form inputs', () => {
  assert.equal(inputFieldName('input.git.url'), 'url');
  assert.equal(inputFieldName('app-id'), 'appId');
  assert.equal(inputFieldName('manifestPath'), 'manifestPath');
  assert.equal(inputFieldName('manifest'), 'manifestPath');
  assert.equal(inputFieldName('depends-on'), 'dependsOn');
  assert.equal(inputFieldName(null), null);
});

test('git URLs shorten to their path', () => {
  assert.equal(shortGitUrl('https://example.org/group/app.git'), 'group/app');
  assert.equal(shortGitUrl('ssh://git@example.org/group/app'), 'group/app');
});

test('chart figures: success rate per day, null where nothing ended', () => {
  const days = [
    { day: '2026-12-01', succeeded: 3, failed: 1, cancelled: 0, medianDurationSeconds: 60, maxDurationSeconds: 90 },
    { day: '2026-12-02', succeeded: 0, failed: 0, cancelled: 2, medianDurationSeconds: null, maxDurationSeconds: null },
    { day: '2026-12-03', succeeded: 0, failed: 2, cancelled: 0, medianDurationSeconds: 30, maxDurationSeconds: 31 },
  ];
  assert.deepEqual(successRates(days), [75, null, 0]);
  const d = chartData(days);
  assert.deepEqual(d.x, [dayToUnix('2026-12-01'), dayToUnix('2026-12-01') + 86400, dayToUnix('2026-12-01') + 2 * 86400]);
  assert.equal(new Date(d.x[0]! * 1000).toISOString(), '2026-12-01T00:00:00.000Z');
  assert.deepEqual(d.median, [60, null, 30]);
  assert.deepEqual(d.ended, [4, 2, 2]);
  assert.equal(hasData(days), true);
  assert.equal(hasData([{ day: '2026-12-01', succeeded: 0, failed: 0, cancelled: 0, medianDurationSeconds: null, maxDurationSeconds: null }]), false);
  assert.equal(percent(null), '—');
  assert.equal(percent(1), '100 %');
  assert.equal(percent(0.8771), '87.7 %');
});

test('duration axes pick a unit from the largest value', () => {
  assert.deepEqual([0, 0.5, 1.25].map(durationFormat(2)), ['0 s', '0.5 s', '1.3 s']);
  assert.deepEqual([30, 90].map(durationFormat(100)), ['30 s', '90 s']);
  assert.deepEqual([90, 600].map(durationFormat(900)), ['1.5 min', '10 min']);
  assert.deepEqual([5400].map(durationFormat(8000)), ['1.5 h']);
});
