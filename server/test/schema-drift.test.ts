import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { printSortedSchema } from '../src/graphql/index.ts';

test('the committed schema.graphql is what the Pothos schema prints (run `npm run schema:print`)', () => {
  const committed = readFileSync(fileURLToPath(new URL('../../schema.graphql', import.meta.url)), 'utf8');
  assert.equal(printSortedSchema(), committed);
});
