// The retention form's reading: empty turns a setting off, durations and days are read, and
// anything else is an error named after its field (shown next to it) before anything is sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readRetentionForm } from './repos-retention.ts';
import { FieldError } from '../forms.ts';

test('empty fields turn retention off; days and durations are read', () => {
  assert.deepEqual(readRetentionForm({ purgeAfterDays: '', pruneEvery: ' ', fsckEvery: '' }), { purgeBuildsAfterDays: null, pruneIntervalSecs: null, fsckIntervalSecs: null });
  assert.deepEqual(readRetentionForm({ purgeAfterDays: '30', pruneEvery: '1d', fsckEvery: '1w' }), { purgeBuildsAfterDays: 30, pruneIntervalSecs: 86_400, fsckIntervalSecs: 604_800 });
});

test('bad values name their field', () => {
  for (const [values, field] of [
    [{ purgeAfterDays: '-3', pruneEvery: '', fsckEvery: '' }, 'purgeBuildsAfterDays'],
    [{ purgeAfterDays: 'soon', pruneEvery: '', fsckEvery: '' }, 'purgeBuildsAfterDays'],
    [{ purgeAfterDays: '', pruneEvery: 'often', fsckEvery: '' }, 'pruneIntervalSecs'],
    [{ purgeAfterDays: '', pruneEvery: '', fsckEvery: '-1d' }, 'fsckIntervalSecs'],
  ] as const) {
    assert.throws(() => readRetentionForm(values), (err: unknown) => err instanceof FieldError && err.field === field, JSON.stringify(values));
  }
});
