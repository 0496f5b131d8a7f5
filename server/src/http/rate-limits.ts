// Rate limits of the HTTP boundary, in fixed windows: authentication failures per client IP
// (REST, GraphQL over HTTP, WebSocket connection_init) and uploads per token and per IP
// (requests and bytes). A window starts with the first hit of its key and lasts its length;
// over the limit the client is told when the window ends (Retry-After, in seconds).
//
// Counts live in this process's memory, or in Redis when `redis` is configured, so that
// several API processes behind one address share the limits. Should Redis fail, counting goes
// on in memory (a warning is logged) rather than refusing or waving through every request.
//
// Only failures count towards the authentication limit, and only a failure is refused: a
// request with a good token goes through whatever its IP did before.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { FmdConfig } from '../config/index.ts';
import type { Viewer } from '../domain/tokens/service.ts';

/** A refusal: HTTP 429 with Retry-After, or a WebSocket closed with 4429. */
export class RateLimitedError extends Error {
  readonly retryAfterSecs: number;
  constructor(message: string, retryAfterSecs: number) {
    super(message);
    this.name = 'RateLimitedError';
    this.retryAfterSecs = retryAfterSecs;
  }
}

/** The close code of a WebSocket refused by a rate limit (4000 + the HTTP status, as graphql-ws' 4403). */
export const wsRateLimitedCode = 4429;

type Hit = { count: number; resetInMs: number };

interface Counter {
  /** Adds `cost` to the key's window (a new window of `windowMs` when none is running); answers the total and when the window ends. */
  hit(key: string, cost: number, windowMs: number): Promise<Hit>;
  close(): void;
}

/** Fixed windows in a Map; ended windows are swept once a minute and when the map grows large. */
export class MemoryCounter implements Counter {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly maxKeys: number;
  constructor(maxKeys = 100_000) {
    this.maxKeys = maxKeys;
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }
  async hit(key: string, cost: number, windowMs: number): Promise<Hit> {
    return this.hitNow(key, cost, windowMs);
  }
  hitNow(key: string, cost: number, windowMs: number): Hit {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || w.endsAt <= now) {
      if (this.windows.size >= this.maxKeys) this.sweep();
      // Still full of live windows (a flood of addresses): the oldest give way.
      if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
      this.windows.delete(key);
      w = { count: 0, endsAt: now + windowMs };
      this.windows.set(key, w);
    }
    w.count += cost;
    return { count: w.count, resetInMs: w.endsAt - now };
  }
  private sweep(): void {
    const now = Date.now();
    for (const [k, w] of this.windows) if (w.endsAt <= now) this.windows.delete(k);
  }
  close(): void {
    clearInterval(this.sweeper);
  }
}

// INCRBY, and the window's expiry set by the hit that opened it; PTTL says when it ends.
const hitScript = `
local c = redis.call('INCRBY', KEYS[1], ARGV[1])
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  t = tonumber(ARGV[2])
end
return {c, t}`;

/** Fixed windows in Redis (one key each, expiring with its window), shared by every process using it. */
export class RedisCounter implements Counter {
  private readonly fallback = new MemoryCounter();
  private warned = false;
  private readonly redis: Redis;
  private readonly log: Logger;
  constructor(redis: Redis, log: Logger) {
    this.redis = redis;
    this.log = log;
  }
  async hit(key: string, cost: number, windowMs: number): Promise<Hit> {
    try {
      const [count, ttl] = (await this.redis.eval(hitScript, 1, `fmd:ratelimit:${key}`, String(cost), String(windowMs))) as [number, number];
      this.warned = false;
      return { count: Number(count), resetInMs: Number(ttl) };
    } catch (err) {
      if (!this.warned) this.log.warn({ err }, 'rate limits: Redis failed; counting in this process meanwhile');
      this.warned = true;
      return this.fallback.hit(key, cost, windowMs);
    }
  }
  close(): void {
    this.fallback.close();
    this.redis.disconnect();
  }
}

export type RateLimitConfig = Pick<
  FmdConfig,
  'authFailureLimit' | 'authFailureWindowSecs' | 'uploadRequestsPerToken' | 'uploadRequestsPerIp' | 'uploadBytesPerToken' | 'uploadBytesPerIp' | 'uploadWindowSecs'
>;

const retryAfter = (hit: Hit): number => Math.max(1, Math.ceil(hit.resetInMs / 1000));

/** What a token is counted by: its jti, or (flat-manager tokens may have none) a hash of its text. */
export function tokenKey(viewer: Viewer, token: string): string {
  return viewer.claims.jti ? `jti:${viewer.claims.jti}` : `sha256:${createHash('sha256').update(token).digest('hex').slice(0, 32)}`;
}

export class RateLimits {
  private readonly config: RateLimitConfig;
  private readonly counter: Counter;
  constructor(config: RateLimitConfig, counter: Counter) {
    this.config = config;
    this.counter = counter;
  }

  /**
   * Counts one authentication failure (a missing, malformed, bad, expired or revoked token) of
   * `ip`; answers the refusal that replaces the failure's own answer once the IP is over the limit.
   */
  async authFailure(ip: string | undefined): Promise<RateLimitedError | null> {
    const { authFailureLimit: limit, authFailureWindowSecs: secs } = this.config;
    if (limit <= 0) return null;
    const hit = await this.counter.hit(`auth:${ip ?? 'unknown'}`, 1, secs * 1000);
    if (hit.count <= limit) return null;
    const wait = retryAfter(hit);
    return new RateLimitedError(`too many authentication failures from this address (more than ${limit} in ${secs} s); retry in ${wait} s`, wait);
  }

  /**
   * Counts an upload request of `bytes` (its declared length; 0 when unknown, see `uploadedBytes`)
   * by one token from one IP. Throws RateLimitedError over a limit. A byte limit refuses the
   * requests after the one that crossed it, so a single object larger than the limit still goes.
   */
  async upload(ip: string | undefined, token: string, bytes: number): Promise<void> {
    const c = this.config;
    const windowMs = c.uploadWindowSecs * 1000;
    const checks: Array<Promise<RateLimitedError | null>> = [];
    const requests = async (key: string, limit: number, who: string) => {
      if (limit <= 0) return null;
      const hit = await this.counter.hit(key, 1, windowMs);
      return hit.count <= limit ? null : new RateLimitedError(`too many uploads ${who} (more than ${limit} requests in ${c.uploadWindowSecs} s); retry in ${retryAfter(hit)} s`, retryAfter(hit));
    };
    checks.push(requests(`upload:token:${token}`, c.uploadRequestsPerToken, 'with this token'));
    checks.push(requests(`upload:ip:${ip ?? 'unknown'}`, c.uploadRequestsPerIp, 'from this address'));
    checks.push(this.bytes(`uploadbytes:token:${token}`, c.uploadBytesPerToken, bytes, 'with this token'));
    checks.push(this.bytes(`uploadbytes:ip:${ip ?? 'unknown'}`, c.uploadBytesPerIp, bytes, 'from this address'));
    const refused = (await Promise.all(checks)).filter((r): r is RateLimitedError => r !== null);
    if (refused.length) throw refused.reduce((a, b) => (b.retryAfterSecs > a.retryAfterSecs ? b : a));
  }

  /** The bytes of an upload whose length was not declared, counted once it was read. */
  async uploadedBytes(ip: string | undefined, token: string, bytes: number): Promise<void> {
    const c = this.config;
    await Promise.all([this.bytes(`uploadbytes:token:${token}`, c.uploadBytesPerToken, bytes, ''), this.bytes(`uploadbytes:ip:${ip ?? 'unknown'}`, c.uploadBytesPerIp, bytes, '')]);
  }

  private async bytes(key: string, limit: number, cost: number, who: string): Promise<RateLimitedError | null> {
    if (limit <= 0) return null;
    const hit = await this.counter.hit(key, cost, this.config.uploadWindowSecs * 1000);
    if (hit.count - cost < limit) return null;
    return new RateLimitedError(`too many bytes uploaded ${who} (more than ${limit} in ${this.config.uploadWindowSecs} s); retry in ${retryAfter(hit)} s`, retryAfter(hit));
  }

  close(): void {
    this.counter.close();
  }
}

/** The rate limits of one API process: in Redis when configured (a connection of their own), else in memory. */
export async function createRateLimits(config: FmdConfig, log: Logger): Promise<RateLimits> {
  if (!config.redis) return new RateLimits(config, new MemoryCounter());
  const { Redis } = await import('ioredis');
  const redis = new Redis(config.redis, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', (err) => log.warn({ err }, 'rate limits: redis error'));
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`redis ${config.redis}: cannot connect: ${(err as Error).message}`);
  }
  return new RateLimits(config, new RedisCounter(redis, log));
}
