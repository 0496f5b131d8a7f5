import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { codePointLength, LineEndCache, readLog, readLogForClient } from './logs.ts';

type Row = { offset: number; text: string };
type OffsetFilter = { lte?: number; gt?: number; gte?: number };

/** The two job_logs queries the readers make, over rows held in memory (one job). */
function fakePrisma(rows: Row[]): PrismaClient {
  const match = (r: Row, o?: OffsetFilter) =>
    (o?.lte === undefined || r.offset <= o.lte) && (o?.gt === undefined || r.offset > o.gt) && (o?.gte === undefined || r.offset >= o.gte);
  const sorted = (desc: boolean) => [...rows].sort((a, b) => (desc ? b.offset - a.offset : a.offset - b.offset));
  const jobLog = {
    findMany: async ({ where }: { where: { offset?: OffsetFilter } }) => sorted(false).filter((r) => match(r, where.offset)),
    findFirst: async ({ where, orderBy }: { where: { offset?: OffsetFilter }; orderBy: { offset: 'asc' | 'desc' } }) =>
      sorted(orderBy.offset === 'desc').find((r) => match(r, where.offset)) ?? null,
  };
  return { jobLog } as unknown as PrismaClient;
}

/** Rows as JobLogWriter stores them: one per line, at its byte offset. */
function rowsOf(lines: string[]): Row[] {
  let offset = 0;
  return lines.map((text) => {
    const row = { offset, text };
    offset += Buffer.byteLength(text);
    return row;
  });
}

const counters = { python: codePointLength, rust: (s: string) => Buffer.byteLength(s) };

test('codePointLength counts as Python len does: an astral character is one', () => {
  assert.equal(codePointLength('aé✓😀漢'), 5);
  assert.equal(codePointLength(''), 0);
});

test('a client following a growing non-ASCII log gets every line exactly once, counting characters or bytes', async () => {
  const lines = ['grüße aus fmd ✓\n', 'emoji 😀 and CJK 漢字\n', 'plain\n', 'après la porte — fin\n', 'ascii tail\n'];
  for (const [style, count] of Object.entries(counters)) {
    const rows: Row[] = [];
    const p = fakePrisma(rows);
    const cache = new LineEndCache(); // line ends read once, then only the new lines on each poll
    let printed = '';
    for (const row of rowsOf(lines)) {
      rows.push(row);
      printed += await readLogForClient(p, 1, count(printed), cache);
    }
    printed += await readLogForClient(p, 1, count(printed), cache);
    assert.equal(printed, lines.join(''), style);
  }
});

test('an offset that is a line boundary in both units at different lines is read as bytes: nothing is skipped', async () => {
  // Bytes end at 5, 8, 10, 12; characters at 3, 6, 8, 10: 8 is the end of line 2 in bytes and of line 3 in characters.
  const lines = ['éé\n', 'ab\n', 'c\n', 'z\n'];
  const p = fakePrisma(rowsOf(lines));
  assert.equal(await readLogForClient(p, 1, 8), 'c\nz\n');
  // Unambiguous boundaries are exact in either unit.
  assert.equal(await readLogForClient(p, 1, 3), 'ab\nc\nz\n');
  assert.equal(await readLogForClient(p, 1, 5), 'ab\nc\nz\n');
  assert.equal(await readLogForClient(p, 1, 12), '');
});

test('an offset that is no line boundary is a byte offset, moved back to the start of its character', async () => {
  const lines = ['aé✓😀\n', 'b\n'];
  const p = fakePrisma(rowsOf(lines));
  const all = lines.join('');
  const bytes = Buffer.from(all);
  // 5 and 7 are the lines' ends in characters (a Python client's offsets); every other offset is bytes.
  assert.equal(await readLogForClient(p, 1, 5), 'b\n');
  assert.equal(await readLogForClient(p, 1, 7), '');
  for (let offset = 0; offset <= bytes.length + 3; offset++) {
    if (offset === 5 || offset === 7) continue;
    const got = await readLogForClient(p, 1, offset);
    assert.ok(!got.includes('\uFFFD'), `offset ${offset}: ${JSON.stringify(got)}`);
    assert.ok(all.endsWith(got), `offset ${offset}: ${JSON.stringify(got)}`);
    assert.ok(Buffer.byteLength(got) >= bytes.length - offset, `offset ${offset} lost text: ${JSON.stringify(got)}`);
    // The byte reader (GraphQL's) never splits a character either.
    assert.ok(!(await readLog(p, 1, offset)).includes('\uFFFD'), `readLog at ${offset}`);
  }
  assert.equal(await readLogForClient(p, 1, 2), 'é✓😀\nb\n');
});
