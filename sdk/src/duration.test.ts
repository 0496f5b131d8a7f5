// The durations fmdc and the dashboard read and print.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDelay, parseDuration } from './duration.ts';

test('parseDuration reads units and plain seconds', () => {
  assert.equal(parseDuration('30d'), 30 * 86_400);
  assert.equal(parseDuration('12h'), 12 * 3600);
  assert.equal(parseDuration('90m'), 5400);
  assert.equal(parseDuration('1w'), 604_800);
  assert.equal(parseDuration('1y'), 31_536_000);
  assert.equal(parseDuration('3600'), 3600);
  assert.equal(parseDuration('45S'), 45);
  assert.equal(parseDuration('45min'), 2700);
  assert.equal(parseDuration('1d 12h'), 129_600);
});

test('parseDuration rejects what is not a positive duration', () => {
  for (const bad of ['', '0', '0d', '-1d', '1.5h', 'd', '10x', 'forever']) assert.equal(parseDuration(bad), undefined, bad);
});

test('parseDelay also takes 0; formatDuration prints the largest exact unit', () => {
  assert.equal(parseDelay('0'), 0);
  assert.equal(parseDelay('0h'), 0);
  assert.equal(parseDelay('2h'), 7200);
  assert.equal(parseDelay('-1'), undefined);
  assert.deepEqual([7200, 86_400 * 2, 90, 0, 604_800, 61].map(formatDuration), ['2h', '2d', '90s', '0s', '1w', '61s']);
});

test('what formatDuration prints, parseDelay reads back', () => {
  for (const s of [0, 45, 90 * 60, 36 * 3600, 2 * 86_400, 604_800, 31_536_000]) assert.equal(parseDelay(formatDuration(s)), s);
});
