// Contract tests of the MariaDB job store: every JobRepository method, against the behaviour of
// Agenda's PostgreSQL backend, on a fresh database of the embedded test server.
import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { Agenda, type JobParameters } from 'agenda';
import { createTestDatabase, type TestDatabase } from '../../../test/kit/database.ts';
import { MariaDbBackend, jobStoreSchemaSql, type MariaDbJobRepository } from './index.ts';
import { dataContains } from './filters.ts';

// Created at the top level so the kit ties the database's life to this file, not to one hook.
const db: TestDatabase = await createTestDatabase();
const backend = new MariaDbBackend({ pool: db.pool, ensureSchema: true });
await backend.connect();
const repo: MariaDbJobRepository = backend.repository;

const ago = (ms: number) => new Date(Date.now() - ms);
const ahead = (ms: number) => new Date(Date.now() + ms);
const job = (over: Partial<JobParameters> = {}): JobParameters => ({
  name: 'j',
  priority: 0,
  nextRunAt: ago(1000),
  type: 'normal',
  data: {},
  ...over,
});
const next = (name: string, opts: { deadline?: Date; now?: Date } = {}) => {
  const now = opts.now ?? new Date();
  return repo.getNextJobToRun(name, new Date(now.getTime() + 5000), opts.deadline ?? new Date(now.getTime() - 600_000), now, undefined);
};

beforeEach(async () => {
  await repo.purgeAllJobs();
});

describe('backend', () => {
  test('ensureSchema creates both tables, safely from several backends at once', async () => {
    await Promise.all(
      Array.from({ length: 4 }, () =>
        new MariaDbBackend({ pool: db.pool, ensureSchema: true, tableName: 'race_jobs', logTableName: 'race_logs' }).connect(),
      ),
    );
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()',
    );
    assert.deepEqual(
      rows.map((r) => String(r.t)).sort(),
      ['agenda_job_logs', 'agenda_jobs', 'race_jobs', 'race_logs'],
    );
    assert.match(jobStoreSchemaSql(), /CREATE TABLE IF NOT EXISTS `agenda_jobs`[\s\S]*CREATE TABLE IF NOT EXISTS `agenda_job_logs`/);
    assert.throws(() => jobStoreSchemaSql('bad`name'), /invalid job store table name/);
  });

  test('a passed-in pool is not owned and survives disconnect()', async () => {
    const b = new MariaDbBackend({ pool: db.pool });
    assert.equal(b.ownsConnection, false);
    await b.connect();
    await b.disconnect();
    await db.pool.query('SELECT 1');
  });

  test('a uri gives an owned pool, closed by disconnect() and reopened by connect()', async () => {
    const b = new MariaDbBackend({ uri: db.url });
    assert.equal(b.ownsConnection, true);
    await b.connect();
    assert.equal(await b.repository.getQueueSize(), 0);
    await b.disconnect();
    await b.connect();
    assert.equal(await b.repository.getQueueSize(), 0);
    await b.disconnect();
    assert.throws(() => new MariaDbBackend({}), /needs a pool or a uri/);
  });

  test('lock queries walk their indexes without a filesort', async () => {
    for (let i = 0; i < 50; i++) await repo.saveJob(job({ name: 'x', priority: i % 3 }), undefined);
    const t = '`agenda_jobs`';
    for (const [index, sql] of [
      ['agenda_jobs_find_and_lock', `EXPLAIN SELECT * FROM ${t} FORCE INDEX (agenda_jobs_find_and_lock) WHERE name = 'x' AND disabled = FALSE AND locked_at IS NULL AND next_run_at <= NOW() ORDER BY next_run_at ASC, priority DESC LIMIT 1`],
      ['agenda_jobs_find_and_lock', `EXPLAIN SELECT id FROM ${t} FORCE INDEX (agenda_jobs_find_and_lock) WHERE name = 'x' AND disabled = FALSE AND locked_at IS NULL AND next_run_at <= NOW() ORDER BY next_run_at ASC, priority DESC LIMIT 8`],
      ['agenda_jobs_lock_expiry', `EXPLAIN SELECT * FROM ${t} FORCE INDEX (agenda_jobs_lock_expiry) WHERE name = 'x' AND disabled = FALSE AND locked_at <= NOW() ORDER BY locked_at ASC LIMIT 1`],
    ] as const) {
      const [rows] = await db.pool.query<RowDataPacket[]>(sql);
      assert.equal(rows[0]?.key, index, sql);
      assert.doesNotMatch(String(rows[0]?.Extra), /filesort/, sql);
    }
  });
});

describe('saveJob', () => {
  test('inserts with a new id and round-trips every field', async () => {
    const at = new Date('2030-01-02T03:04:05.678Z');
    const saved = await repo.saveJob(
      job({
        name: 'all',
        priority: 10,
        nextRunAt: at,
        data: { foo: 'bar', n: [1, 2] },
        repeatInterval: 60000,
        repeatTimezone: 'Europe/Paris',
        failReason: 'boom',
        failCount: 3,
        failedAt: at,
        startDate: at,
        endDate: at,
        skipDays: [0, 6],
        disabled: true,
        fork: true,
      }),
      { lastModifiedBy: 'me' },
    );
    assert.ok(saved._id);
    const got = await repo.getJobById(saved._id);
    assert.ok(got);
    for (const j of [saved, got]) {
      assert.equal(j.name, 'all');
      assert.equal(j.priority, 10);
      assert.equal(j.nextRunAt?.getTime(), at.getTime());
      assert.deepEqual(j.data, { foo: 'bar', n: [1, 2] });
      assert.equal(j.repeatInterval, '60000');
      assert.equal(j.repeatTimezone, 'Europe/Paris');
      assert.equal(j.failReason, 'boom');
      assert.equal(j.failCount, 3);
      assert.equal(j.failedAt?.getTime(), at.getTime());
      assert.equal(j.startDate?.getTime(), at.getTime());
      assert.deepEqual(j.skipDays, [0, 6]);
      assert.equal(j.disabled, true);
      assert.equal(j.fork, true);
      assert.equal(j.lastModifiedBy, 'me');
      assert.equal(j.lockedAt, undefined);
    }
  });

  test('updates a job by id, and hands back a removed job unchanged', async () => {
    const saved = await repo.saveJob(job({ priority: 5, data: { v: 1 } }), undefined);
    const updated = await repo.saveJob({ ...saved, priority: 20, data: { v: 2 } }, undefined);
    assert.equal(updated._id, saved._id);
    assert.equal(updated.priority, 20);
    assert.deepEqual(updated.data, { v: 2 });
    await repo.removeJobs({ id: saved._id });
    const ghost = { ...saved, priority: 99 };
    assert.equal(await repo.saveJob(ghost, undefined), ghost);
    assert.equal((await repo.queryJobs()).total, 0);
  });

  test("type 'single' keeps one job per name and does not move a due nextRunAt", async () => {
    const first = await repo.saveJob(job({ name: 's', type: 'single', nextRunAt: ahead(60_000), data: { run: 1 } }), undefined);
    const second = await repo.saveJob(job({ name: 's', type: 'single', priority: 10, nextRunAt: ahead(120_000), data: { run: 2 } }), undefined);
    assert.equal(second._id, first._id);
    assert.equal(second.priority, 10);
    assert.deepEqual(second.data, { run: 2 });
    assert.ok(Math.abs((second.nextRunAt?.getTime() ?? 0) - Date.now() - 120_000) < 2000);
    const third = await repo.saveJob(job({ name: 's', type: 'single', nextRunAt: ago(1000) }), undefined);
    assert.equal(third.nextRunAt?.getTime(), second.nextRunAt?.getTime(), 'a due nextRunAt is protected');
    await Promise.all(Array.from({ length: 8 }, () => repo.saveJob(job({ name: 's2', type: 'single' }), undefined)));
    assert.equal((await repo.queryJobs({ name: 's2' })).total, 1);
    assert.equal((await repo.queryJobs({ name: 's' })).total, 1);
  });

  test('unique: upsert by constraint, insertOnly keeps the first, concurrent saves make one job', async () => {
    const a = await repo.saveJob(job({ name: 'u', data: { user: { id: 7 }, v: 1 }, unique: { 'data.user.id': 7 } }), undefined);
    const b = await repo.saveJob(job({ name: 'u', data: { user: { id: 7 }, v: 2 }, unique: { 'data.user.id': 7 } }), undefined);
    assert.equal(b._id, a._id);
    assert.deepEqual(b.data, { user: { id: 7 }, v: 2 });
    const c = await repo.saveJob(
      job({ name: 'u', data: { user: { id: 7 }, v: 3 }, unique: { 'data.user.id': 7 }, uniqueOpts: { insertOnly: true } }),
      undefined,
    );
    assert.equal(c._id, a._id);
    assert.deepEqual(c.data, { user: { id: 7 }, v: 2 });
    const other = await repo.saveJob(job({ name: 'u', data: { user: { id: 8 } }, unique: { 'data.user.id': 8 } }), undefined);
    assert.notEqual(other._id, a._id);
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => repo.saveJob(job({ name: 'uc', data: { k: 'x', i }, unique: { 'data.k': 'x' } }), undefined)),
    );
    assert.equal((await repo.queryJobs({ name: 'uc' })).total, 1);
    const byColumn = await repo.saveJob(job({ name: 'up', priority: 3, unique: { priority: 3 } }), undefined);
    assert.equal((await repo.saveJob(job({ name: 'up', priority: 3, unique: { priority: 3 } }), undefined))._id, byColumn._id);
    await assert.rejects(repo.saveJob(job({ name: 'u', unique: { 'x; DROP TABLE': 1 } }), undefined), /unknown job field/);
  });

  test('debounce: trailing pushes nextRunAt, maxWait forces a run, leading keeps the first time', async () => {
    const opts = (strategy: 'trailing' | 'leading', maxWait?: number) => ({ debounce: { delay: 2000, maxWait, strategy } });
    const t0 = Date.now();
    const d1 = await repo.saveJob(job({ name: 'd', data: { k: 1 }, unique: { 'data.k': 1 }, uniqueOpts: opts('trailing') }), undefined);
    assert.ok((d1.nextRunAt?.getTime() ?? 0) >= t0 + 2000);
    assert.ok(d1.debounceStartedAt);
    await new Promise((r) => setTimeout(r, 30));
    const d2 = await repo.saveJob(job({ name: 'd', data: { k: 1 }, unique: { 'data.k': 1 }, uniqueOpts: opts('trailing') }), undefined);
    assert.equal(d2._id, d1._id);
    assert.ok((d2.nextRunAt?.getTime() ?? 0) > (d1.nextRunAt?.getTime() ?? 0));
    assert.equal(d2.debounceStartedAt?.getTime(), d1.debounceStartedAt?.getTime());
    // maxWait already passed since the window opened: run now and start a new window.
    await new Promise((r) => setTimeout(r, 30));
    const d3 = await repo.saveJob(job({ name: 'd', data: { k: 1 }, unique: { 'data.k': 1 }, uniqueOpts: opts('trailing', 20) }), undefined);
    assert.ok((d3.nextRunAt?.getTime() ?? Infinity) <= Date.now());
    assert.equal(d3.debounceStartedAt, undefined);

    const l1 = await repo.saveJob(job({ name: 'l', nextRunAt: new Date(), data: { v: 1 }, unique: { name: 'l' }, uniqueOpts: opts('leading') }), undefined);
    const l2 = await repo.saveJob(job({ name: 'l', nextRunAt: ahead(9000), data: { v: 2 }, unique: { name: 'l' }, uniqueOpts: opts('leading') }), undefined);
    assert.equal(l2._id, l1._id);
    assert.equal(l2.nextRunAt?.getTime(), l1.nextRunAt?.getTime());
    assert.deepEqual(l2.data, { v: 2 });
  });
});

describe('reading', () => {
  beforeEach(async () => {
    await repo.saveJob(job({ name: 'job-a', priority: 10, nextRunAt: ahead(60_000), data: { type: 'alpha', n: 1 } }), undefined);
    await repo.saveJob(job({ name: 'job-b', priority: 5, nextRunAt: ahead(120_000), data: { type: 'beta', n: 2 } }), undefined);
    await repo.saveJob(job({ name: 'job-a', priority: 15, nextRunAt: ahead(180_000), data: { type: 'alpha', n: 3 } }), undefined);
  });

  test('getJobById returns the job, null when missing', async () => {
    const [a] = (await repo.queryJobs({ name: 'job-b' })).jobs;
    assert.equal((await repo.getJobById(String(a?._id)))?.name, 'job-b');
    assert.equal(await repo.getJobById('00000000-0000-0000-0000-000000000000'), null);
  });

  test('queryJobs filters by name, names, id, ids, search, data and disabled', async () => {
    assert.equal((await repo.queryJobs()).total, 3);
    assert.equal((await repo.queryJobs({ name: 'job-a' })).total, 2);
    assert.equal((await repo.queryJobs({ name: 'JOB-A' })).total, 0, 'names compare exactly');
    assert.equal((await repo.queryJobs({ names: ['job-a', 'job-b'] })).total, 3);
    assert.equal((await repo.queryJobs({ search: 'OB-' })).total, 3, 'search is case-insensitive');
    assert.equal((await repo.queryJobs({ search: '%' })).total, 0, 'search text is literal');
    assert.equal((await repo.queryJobs({ data: { type: 'alpha' } })).total, 2);
    assert.equal((await repo.queryJobs({ data: { type: 'alpha', n: 3 } })).total, 1);
    const all = (await repo.queryJobs()).jobs;
    const id = String(all[0]?._id);
    assert.equal((await repo.queryJobs({ id })).jobs[0]?._id, id);
    assert.equal((await repo.queryJobs({ ids: all.slice(0, 2).map((j) => String(j._id)) })).total, 2);
    await repo.saveJob(job({ name: 'off', disabled: true }), undefined);
    assert.equal((await repo.queryJobs({ includeDisabled: true })).total, 4);
    assert.equal((await repo.queryJobs({ includeDisabled: false })).total, 3);
  });

  test('queryJobs sorts (default nextRunAt desc) and pages after filtering', async () => {
    const byDefault = (await repo.queryJobs()).jobs.map((j) => j.priority);
    assert.deepEqual(byDefault, [15, 5, 10]);
    const byPriority = (await repo.queryJobs({ sort: { priority: 'asc' } })).jobs.map((j) => j.priority);
    assert.deepEqual(byPriority, [5, 10, 15]);
    const page = await repo.queryJobs({ sort: { priority: 'desc' }, skip: 1, limit: 1 });
    assert.equal(page.total, 3);
    assert.deepEqual(page.jobs.map((j) => j.priority), [10]);
    assert.deepEqual((await repo.queryJobs({ sort: { priority: 'desc' }, skip: 2 })).jobs.map((j) => j.priority), [5]);
    const scheduled = await repo.queryJobs({ state: 'scheduled', limit: 2 });
    assert.equal(scheduled.total, 3);
    assert.equal(scheduled.jobs.length, 2);
  });

  test('queryJobs computes every state, and getJobsOverview counts them', async () => {
    await repo.purgeAllJobs();
    const past = ago(60_000);
    await repo.saveJob(job({ name: 's', nextRunAt: ahead(60_000) }), undefined); // scheduled
    await repo.saveJob(job({ name: 's', nextRunAt: past }), undefined); // queued
    await repo.saveJob(job({ name: 's', nextRunAt: null, repeatInterval: '5 minutes' }), undefined); // repeating
    await repo.saveJob(job({ name: 's', nextRunAt: null, failedAt: past, failCount: 1 }), undefined); // failed
    const done = await repo.saveJob(job({ name: 's', nextRunAt: null }), undefined); // completed
    await repo.saveJobState({ ...done, lastFinishedAt: past }, undefined);
    const running = await repo.saveJob(job({ name: 't', nextRunAt: past }), undefined);
    await repo.lockJob(running, undefined); // running
    await repo.saveJob(job({ name: 't', nextRunAt: ahead(60_000), disabled: true }), undefined); // scheduled + paused
    const states = (await repo.queryJobs({ name: 's' })).jobs.map((j) => j.state).sort();
    assert.deepEqual(states, ['completed', 'failed', 'queued', 'repeating', 'scheduled']);
    assert.equal((await repo.queryJobs({ state: 'running' })).jobs[0]?.name, 't');
    assert.equal((await repo.queryJobs({ state: 'paused' })).total, 1);
    assert.deepEqual(await repo.getJobsOverview(), [
      { name: 's', total: 5, running: 0, scheduled: 1, queued: 1, completed: 1, failed: 1, repeating: 1, paused: 0 },
      { name: 't', total: 2, running: 1, scheduled: 1, queued: 0, completed: 0, failed: 0, repeating: 0, paused: 1 },
    ]);
  });

  test('getDistinctJobNames and getQueueSize', async () => {
    assert.deepEqual(await repo.getDistinctJobNames(), ['job-a', 'job-b']);
    assert.equal(await repo.getQueueSize(), 0);
    await repo.saveJob(job({ name: 'due', nextRunAt: ago(60_000) }), undefined);
    await repo.saveJob(job({ name: 'due', nextRunAt: ago(30_000) }), undefined);
    await repo.saveJob(job({ name: 'never', nextRunAt: null }), undefined);
    assert.equal(await repo.getQueueSize(), 2);
    await repo.purgeAllJobs();
    assert.deepEqual(await repo.getDistinctJobNames(), []);
  });
});

describe('removing, disabling, enabling', () => {
  test('removeJobs by id, ids, name, names, notNames and data; nothing without criteria', async () => {
    const ids: string[] = [];
    for (const [name, data] of [['a', { g: 1 }], ['a', { g: 2 }], ['b', { g: 1 }], ['c', { g: 1 }], ['d', { g: 3 }]] as const) {
      ids.push(String((await repo.saveJob(job({ name, data }), undefined))._id));
    }
    assert.equal(await repo.removeJobs({}), 0);
    assert.equal(await repo.removeJobs({ name: 'nope' }), 0);
    assert.equal(await repo.removeJobs({ id: ids[0] }), 1);
    assert.equal(await repo.getJobById(String(ids[0])), null);
    assert.equal(await repo.removeJobs({ ids: [String(ids[1]), String(ids[2])] }), 2);
    assert.equal(await repo.removeJobs({ notNames: ['c'], data: { g: 1 } }), 0);
    assert.equal(await repo.removeJobs({ notNames: ['c'] }), 1);
    assert.deepEqual(await repo.getDistinctJobNames(), ['c']);
    assert.equal(await repo.removeJobs({ names: ['c', 'd'], data: { g: 1 } }), 1);
    assert.equal(await repo.purgeAllJobs(), 0);
  });

  test('a data.jobId selection looks the jobs up by index and still compares the JSON exactly', async () => {
    for (const data of [{ jobId: 7, k: 1 }, { jobId: 7, k: 2 }, { jobId: '7' }, { jobId: 8 }, { jobId: 'x'.repeat(100) }, {}]) {
      await repo.saveJob(job({ data }), undefined);
    }
    const where = dataContains({ jobId: 7 });
    const [plan] = await db.pool.query<RowDataPacket[]>(`EXPLAIN SELECT * FROM agenda_jobs WHERE ${where.sql}`, where.params);
    assert.equal(plan[0]?.key, 'agenda_jobs_data_job_id');
    assert.equal(await repo.removeJobs({ data: { jobId: 7, k: 2 } }), 1);
    assert.equal(await repo.removeJobs({ data: { jobId: 7 } }), 1);
    assert.equal((await repo.queryJobs({ data: { jobId: '7' } })).total, 1);
  });

  test('disableJobs and enableJobs return matched counts and gate getNextJobToRun', async () => {
    await repo.saveJob(job({ name: 'p', data: { k: 1 } }), undefined);
    await repo.saveJob(job({ name: 'p', data: { k: 2 } }), undefined);
    assert.equal(await repo.disableJobs({}), 0);
    assert.equal(await repo.disableJobs({ name: 'p' }), 2);
    assert.equal(await next('p'), undefined);
    assert.equal((await repo.queryJobs({ state: 'paused' })).total, 2);
    assert.equal(await repo.enableJobs({ name: 'p', data: { k: 2 } }), 1);
    assert.deepEqual((await next('p'))?.data, { k: 2 });
    assert.equal(await repo.enableJobs({}), 0);
  });
});

describe('locking', () => {
  test('lockJob locks once, only while due as seen, unlocked and enabled', async () => {
    const saved = await repo.saveJob(job({ name: 'lk' }), { lastModifiedBy: 'w1' });
    assert.equal(await repo.lockJob({ ...saved, nextRunAt: ago(5) }, undefined), undefined, 'stale nextRunAt');
    const locked = await repo.lockJob(saved, { lastModifiedBy: 'w2' });
    assert.ok(locked?.lockedAt);
    assert.equal(locked._id, saved._id);
    assert.equal(locked.lastModifiedBy, 'w2');
    assert.equal(await repo.lockJob(saved, undefined), undefined, 'already locked');
    const off = await repo.saveJob(job({ name: 'lk', disabled: true }), undefined);
    assert.equal(await repo.lockJob(off, undefined), undefined, 'disabled');
  });

  test('unlockJob leaves a running one-off job locked; unlockJobs unlocks by id', async () => {
    const a = await repo.saveJob(job({ name: 'ul' }), undefined);
    const b = await repo.saveJob(job({ name: 'ul' }), undefined);
    const la = await repo.lockJob(a, undefined);
    const lb = await repo.lockJob(b, undefined);
    assert.ok(la && lb);
    await repo.unlockJob(la);
    assert.equal((await repo.getJobById(String(a._id)))?.lockedAt, undefined);
    await repo.saveJobState({ ...lb, nextRunAt: null }, undefined);
    await repo.unlockJob(lb);
    assert.ok((await repo.getJobById(String(b._id)))?.lockedAt, 'no nextRunAt: still running');
    await repo.unlockJobs([String(b._id)]);
    assert.equal((await repo.getJobById(String(b._id)))?.lockedAt, undefined);
    await repo.unlockJobs([]);
  });

  test('getNextJobToRun: earliest nextRunAt, then highest priority; nothing beyond nextScanAt', async () => {
    const same = ago(60_000);
    await repo.saveJob(job({ name: 'n', priority: 5, nextRunAt: same, data: { p: 'low' } }), undefined);
    await repo.saveJob(job({ name: 'n', priority: 10, nextRunAt: same, data: { p: 'high' } }), undefined);
    await repo.saveJob(job({ name: 'n', priority: 20, nextRunAt: ago(1000), data: { p: 'later' } }), undefined);
    await repo.saveJob(job({ name: 'n', priority: 99, nextRunAt: ahead(60_000), data: { p: 'future' } }), undefined);
    const order = [];
    for (let i = 0; i < 4; i++) order.push((await next('n'))?.data);
    assert.deepEqual(order, [{ p: 'high' }, { p: 'low' }, { p: 'later' }, undefined]);
    const locked = (await repo.queryJobs({ name: 'n', state: 'running' })).jobs;
    assert.equal(locked.length, 3);
    assert.equal(await next('other'), undefined);
  });

  test('getNextJobToRun takes over a job whose lock expired, not one still locked', async () => {
    const saved = await repo.saveJob(job({ name: 'exp', nextRunAt: ago(60_000) }), undefined);
    const first = await next('exp', { now: ago(10_000) });
    if (!first) throw new Error('no job to run');
    assert.equal(first._id, saved._id);
    // Running one-off jobs have no nextRunAt; the expired lock alone makes them eligible.
    await repo.saveJobState({ ...first, name: first.name, nextRunAt: null } as Parameters<typeof repo.saveJobState>[0], undefined);
    assert.equal(await next('exp', { deadline: ago(20_000) }), undefined, 'lock still valid');
    const again = await next('exp', { deadline: ago(5_000) });
    if (!again) throw new Error('expired lock was not taken over');
    assert.equal(again._id, saved._id);
    assert.ok((again.lockedAt?.getTime() ?? 0) > (first.lockedAt?.getTime() ?? 0));
  });

  test('concurrent getNextJobToRun of several workers never hands one job to two of them', async () => {
    for (let i = 0; i < 10; i++) await repo.saveJob(job({ name: 'cc', data: { i } }), undefined);
    // One repository per worker, as each worker process has its own.
    const workers = Array.from({ length: 20 }, () => new MariaDbBackend({ pool: db.pool }).repository);
    const now = new Date();
    const got = await Promise.all(
      workers.map((w) => w.getNextJobToRun('cc', new Date(now.getTime() + 5000), new Date(now.getTime() - 600_000), now, undefined)),
    );
    const ids = got.filter((j) => j).map((j) => String(j?._id));
    assert.equal(ids.length, 10);
    assert.equal(new Set(ids).size, 10);
  });

  test('overlapping getNextJobToRun of one worker lock one job at a time, each locked job handed back', async () => {
    // Agenda starts a lock attempt on every tick without waiting for the one under way; piled up,
    // they locked thousands of jobs beyond its lockLimit (bench: 6,661 locked, none run).
    for (let i = 0; i < 30; i++) await repo.saveJob(job({ name: 'ov', data: { i } }), undefined);
    await repo.saveJob(job({ name: 'other' }), undefined);
    const got = await Promise.all([...Array.from({ length: 20 }, () => next('ov')), next('other')]);
    const ov = got.slice(0, 20).filter((j) => j);
    assert.equal(ov.length, 1);
    assert.equal(got[20]?.name, 'other', 'another name is not held up');
    const [rows] = await db.pool.query<RowDataPacket[]>('SELECT id FROM agenda_jobs WHERE locked_at IS NOT NULL ORDER BY id');
    assert.deepEqual(rows.map((r) => String(r.id)).sort(), [String(ov[0]?._id), String(got[20]?._id)].sort());
    // Once it is done, the next attempt locks the next job.
    const again = await next('ov');
    assert.ok(again && String(again._id) !== String(ov[0]?._id));
  });

  test('a job saved while a lock attempt of its name is under way is found by that attempt or the next', async () => {
    const first = next('late');
    await repo.saveJob(job({ name: 'late' }), undefined);
    const got = await Promise.all([first, next('late')]);
    assert.equal(got.filter((j) => j).length, 1);
  });

  test('saveJobState writes the run fields, and throws for a missing job', async () => {
    const saved = await repo.saveJob(job({ name: 'st' }), undefined);
    const t = new Date('2031-05-06T07:08:09.010Z');
    await repo.saveJobState(
      { ...saved, lockedAt: t, lastRunAt: t, lastFinishedAt: t, progress: 42.5, failReason: 'x', failCount: 2, failedAt: t, nextRunAt: t },
      { lastModifiedBy: 'w' },
    );
    const got = await repo.getJobById(String(saved._id));
    assert.equal(got?.lastRunAt?.getTime(), t.getTime());
    assert.equal(got?.lastFinishedAt?.getTime(), t.getTime());
    assert.equal(got?.progress, 42.5);
    assert.equal(got?.failCount, 2);
    assert.equal(got?.lastModifiedBy, 'w');
    await repo.saveJobState({ ...saved, lockedAt: t, lastRunAt: t, lastFinishedAt: t, progress: 42.5, failReason: 'x', failCount: 2, failedAt: t, nextRunAt: t }, { lastModifiedBy: 'w' });
    await assert.rejects(repo.saveJobState({ ...saved, name: 'other' }, undefined), /cannot be updated/);
    await assert.rejects(repo.saveJobState(job(), undefined), /without job ID/);
  });
});

describe('logger', () => {
  test('log, getLogs with filters and paging, clearLogs', async () => {
    const logger = backend.logger;
    await logger.clearLogs();
    const t = Date.now();
    await logger.log({ timestamp: new Date(t), level: 'info', event: 'start', jobId: 'a', jobName: 'x', message: 'm1' });
    await logger.log({ timestamp: new Date(t + 1), level: 'error', event: 'fail', jobId: 'a', jobName: 'x', message: 'm2', error: 'e', failCount: 1, meta: { k: 1 } });
    await logger.log({ timestamp: new Date(t + 2), level: 'info', event: 'success', jobId: 'b', jobName: 'y', message: 'm3', duration: 5 });
    const all = await logger.getLogs();
    assert.equal(all.total, 3);
    assert.deepEqual(all.entries.map((e) => e.message), ['m3', 'm2', 'm1']);
    const fail = await logger.getLogs({ level: ['error'], sort: 'asc' });
    assert.deepEqual(fail.entries[0]?.meta, { k: 1 });
    assert.equal(fail.entries[0]?.timestamp.getTime(), t + 1);
    assert.equal((await logger.getLogs({ jobId: 'a', event: ['start', 'fail'] })).total, 2);
    assert.equal((await logger.getLogs({ jobName: 'y', from: new Date(t + 2), to: new Date(t + 2) })).total, 1);
    const page = await logger.getLogs({ limit: 1, offset: 1, sort: 'asc' });
    assert.deepEqual([page.total, page.entries[0]?.message], [3, 'm2']);
    assert.equal(await logger.clearLogs({ jobName: 'x' }), 2);
    assert.equal(await logger.clearLogs(), 1);
  });
});

describe('with Agenda', () => {
  test('runs a job now, a repeating job and records lifecycle logs', async () => {
    // Agenda's per-job watchdog sleeps lockLifetime/2 after the job ends and holds the process open.
    const agenda = new Agenda({ backend, processEvery: 50, logging: true, defaultLockLifetime: 2000 });
    const ran: string[] = [];
    agenda.define('hello', async (j) => {
      ran.push((j.attrs.data as { who: string }).who);
    });
    let ticks = 0;
    agenda.define('tick', async () => {
      ticks++;
    });
    await agenda.start();
    await agenda.now('hello', { who: 'world' });
    await agenda.every('1 second', 'tick');
    const deadline = Date.now() + 5000;
    while ((ran.length < 1 || ticks < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await agenda.stop();
    assert.deepEqual(ran, ['world']);
    assert.ok(ticks >= 2, `tick ran ${ticks} times`);
    assert.equal((await repo.queryJobs({ name: 'tick' })).total, 1);
    const logs = await agenda.getLogs({ jobName: 'hello' });
    assert.ok(logs.entries.some((e) => e.event === 'success'));
    await db.pool.query('SELECT 1'); // stop() left the caller's pool open
  });
});
