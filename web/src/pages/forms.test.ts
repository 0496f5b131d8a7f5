import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinList, splitList } from '../forms.ts';

test('lists split on commas, spaces and new lines, dropping empty items', () => {
  assert.deepEqual(splitList('org.a, org.b\norg.c  ,,'), ['org.a', 'org.b', 'org.c']);
  assert.deepEqual(splitList('  '), []);
  assert.equal(joinList(['a', 'b']), 'a, b');
  assert.equal(joinList(null), '');
});
