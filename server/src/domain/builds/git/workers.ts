// The processes that run git builds, as the job store sees them: every process that runs jobs
// writes a heartbeat row (build_workers) with the arches it builds and how many builds it runs at
// once. The scheduler reads them to decide whether a build's arch has a worker at all (a build for
// an arch nobody builds waits, visibly, instead of failing late); the git-build job kind is served
// in one lane per arch (JobKindDefinition.lanes), so only a worker that builds the arch takes it.
// Each heartbeat also runs the periodic work every worker shares: re-admitting waiting builds (a
// dependency may have been published by another process, a worker for an arch may have appeared)
// and the stall watchdog.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import type { FmdConfig } from '../../../config/index.ts';
import type { PrismaClient } from '../../../generated/prisma/client.ts';
import { Listeners } from '../../listeners.ts';

/** A worker whose heartbeat is older than this is gone (crashed, or stopped without saying so). */
export const workerStaleMs = 60_000;
/** Heartbeats come at least this often: well inside workerStaleMs. */
const heartbeatMaxMs = 10_000;

/**
 * How often a worker beats and sweeps: every 10 s, or faster when the stall limit is short, so a
 * stuck build is failed within about a quarter of its limit after it is reached.
 */
export function sweepIntervalMs(config: Pick<FmdConfig, 'buildStallSecs'>): number {
  return Math.max(250, Math.min(heartbeatMaxMs, Math.floor((config.buildStallSecs * 1000) / 4)));
}

export type BuildWorkersDeps = { prisma: PrismaClient; config: FmdConfig; log: Logger };

export class BuildWorkers {
  /** host:pid:random, as in the build_workers row */
  readonly id: string;
  /** the periodic work of a live worker, run after each heartbeat (a failure is logged) */
  readonly tick = new Listeners<[]>();
  private readonly prisma: PrismaClient;
  private readonly config: FmdConfig;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(deps: BuildWorkersDeps) {
    this.prisma = deps.prisma;
    this.config = deps.config;
    this.log = deps.log;
    this.id = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`.slice(0, 191);
  }

  /** This process builds from now on: its row appears at once (builds waiting for its arch can start). */
  async start(): Promise<void> {
    if (this.timer) return;
    // A database that is away now must not stop the worker from starting: the next beat retries.
    await this.beat().catch((err: unknown) => this.log.warn({ err }, 'build worker heartbeat failed'));
    this.timer = setInterval(() => void this.beatOnce(), sweepIntervalMs(this.config));
    this.timer.unref();
    // The first sweep right away: builds that waited for this worker's arch need not wait a period.
    void this.beatOnce(false);
  }

  /** This process stops building: its row goes, so the arches only it built stop being offered. */
  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
    await this.prisma.buildWorker.deleteMany({ where: { id: this.id } }).catch((err: unknown) => this.log.warn({ err }, 'could not remove the build worker row'));
  }

  /** One heartbeat and sweep at a time: a slow database must not pile them up. */
  private beatOnce(heartbeat = true): Promise<void> {
    if (this.beating) return this.beating;
    this.beating = (async () => {
      try {
        if (heartbeat) await this.beat();
        await this.tick.emit();
      } catch (err) {
        this.log.warn({ err }, 'build worker heartbeat or sweep failed');
      } finally {
        this.beating = undefined;
      }
    })();
    return this.beating;
  }

  private async beat(): Promise<void> {
    const row = { arches: this.config.buildArches, maxBuilds: this.config.maxBuildsPerWorker, seenAt: new Date() };
    await this.prisma.buildWorker.upsert({ where: { id: this.id }, create: { id: this.id, ...row }, update: row });
  }

  /** The arches some live worker builds. */
  async liveArches(now = Date.now()): Promise<Set<string>> {
    const rows = await this.prisma.buildWorker.findMany({ where: { seenAt: { gt: new Date(now - workerStaleMs) } }, select: { arches: true } });
    const arches = new Set<string>();
    for (const r of rows) for (const a of Array.isArray(r.arches) ? r.arches : []) if (typeof a === 'string') arches.add(a);
    return arches;
  }

  /** Rows of workers gone for a long time (stale heartbeats ten times over) are removed. */
  async removeGone(now = Date.now()): Promise<number> {
    const { count } = await this.prisma.buildWorker.deleteMany({ where: { seenAt: { lt: new Date(now - 10 * workerStaleMs) } } });
    return count;
  }
}

/** What the stall watchdog does with a stuck build: stop it (its job cancelled) as failed. */
export type StopBuild = (buildId: number, step: { step: 'build-failed'; reason: string }) => Promise<boolean>;

/**
 * The stall watchdog: a build cloning or building whose last sign of life (a log line or progress:
 * BuildSource.activeAt, else the moment it entered that state) is older than build-stall-secs is
 * stopped and failed. Returns the builds it failed.
 */
export async function failStalledBuilds(
  deps: { prisma: PrismaClient; config: Pick<FmdConfig, 'buildStallSecs'>; log: Logger },
  stop: StopBuild,
  now = Date.now(),
): Promise<number[]> {
  const limit = deps.config.buildStallSecs;
  const before = new Date(now - limit * 1000);
  const stalled = await deps.prisma.build.findMany({
    where: {
      state: { in: ['CLONING', 'BUILDING'] },
      source: { is: { OR: [{ activeAt: { lt: before } }, { activeAt: null }] } },
      updatedAt: { lt: before },
    },
    select: { id: true },
  });
  const failed: number[] = [];
  for (const { id } of stalled) {
    if (await stop(id, { step: 'build-failed', reason: `no output for ${limit} s: the build looks stuck` })) {
      deps.log.warn({ buildId: id, stallSecs: limit }, 'stuck git build failed');
      failed.push(id);
    }
  }
  return failed;
}
