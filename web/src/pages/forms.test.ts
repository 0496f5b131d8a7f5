import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDurationInput, joinList, parseDuration, splitList } from '../forms.ts';

test('lists split on commas, spaces and new lines, dropping empty items', () => {
  assert.deepEqual(splitList('org.a, org.b\norg.c  ,,'), ['org.a', 'org.b', 'org.c']);
  assert.deepEqual(splitList('  '), []);
  assert.equal(joinList(['a', 'b']), 'a, b');
  assert.equal(joinList(null), '');
});

test('durations read as people type them', () => {
  assert.equal(parseDuration(''), undefined);
  assert.equal(parseDuration('3600'), 3600);
  assert.equal(parseDuration('90d'), 90 * 86400);
  assert.equal(parseDuration('1d 12h'), 129600);
  assert.equal(parseDuration('30m'), 1800);
  assert.equal(parseDuration('45min'), 2700);
  assert.equal(parseDuration('2w'), 1209600);
  assert.equal(parseDuration('1y'), 31536000);
  assert.ok(Number.isNaN(parseDuration('soon')));
  assert.ok(Number.isNaN(parseDuration('5x')));
});

test('durations format back to what parseDuration reads', () => {
  for (const s of [0, 45, 90 * 60, 36 * 3600, 2 * 86400, 604800]) assert.equal(parseDuration(formatDurationInput(s)), s);
  assert.equal(formatDurationInput(2 * 86400), '2d');
  assert.equal(formatDurationInput(null), '');
});
