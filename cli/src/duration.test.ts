import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from './duration.ts';

test('parseDuration reads units and plain seconds', () => {
  assert.equal(parseDuration('30d'), 30 * 86_400);
  assert.equal(parseDuration('12h'), 12 * 3600);
  assert.equal(parseDuration('90m'), 5400);
  assert.equal(parseDuration('1w'), 604_800);
  assert.equal(parseDuration('1y'), 31_536_000);
  assert.equal(parseDuration('3600'), 3600);
  assert.equal(parseDuration('45S'), 45);
});

test('parseDuration rejects what is not a positive duration', () => {
  for (const bad of ['', '0', '0d', '-1d', '1.5h', 'd', '10x', 'forever']) assert.equal(parseDuration(bad), undefined, bad);
});
