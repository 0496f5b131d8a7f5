// Cross-process job notifications over Redis pub/sub (ioredis 5), so a worker in another process
// starts a queued job within milliseconds instead of at its next poll. Agenda's own Redis channel
// lives in @agendajs/redis-backend, which is not a dependency here.
import { Redis, type RedisOptions } from 'ioredis';
import { BaseNotificationChannel } from 'agenda';
import type { JobNotification, JobStateNotification, NotificationChannelConfig } from 'agenda';

export type RedisNotificationChannelOptions = NotificationChannelConfig & {
  /** redis:// URL; or pass `redis` to share its settings (the channel opens its own two connections). */
  url?: string;
  redis?: Redis;
  redisOptions?: RedisOptions;
};

const DATE_FIELDS = ['nextRunAt', 'timestamp', 'retryAt', 'lastRunAt', 'lastFinishedAt'] as const;

// Agenda compares nextRunAt with its scan horizon, so dates must come back as Date objects.
function revive<T>(json: string): T {
  const value = JSON.parse(json) as Record<string, unknown>;
  for (const key of DATE_FIELDS) {
    if (typeof value[key] === 'string') value[key] = new Date(value[key] as string);
  }
  return value as T;
}

export class RedisNotificationChannel extends BaseNotificationChannel {
  private readonly options: RedisNotificationChannelOptions;
  private publisher?: Redis;
  private subscriber?: Redis;

  constructor(options: RedisNotificationChannelOptions = {}) {
    super(options);
    if (!options.url && !options.redis) throw new Error('RedisNotificationChannel needs a url or a redis client');
    this.options = options;
  }

  private get jobsChannel(): string {
    return this.config.channelName;
  }

  private get stateChannel(): string {
    return `${this.config.channelName}:state`;
  }

  private open(): Redis {
    const base = { lazyConnect: true, maxRetriesPerRequest: 2, ...this.options.redisOptions };
    const client = this.options.redis ? this.options.redis.duplicate(base) : new Redis(this.options.url as string, base);
    // ioredis reconnects by itself; errors are reported, never thrown unhandled.
    client.on('error', (err: Error) => this.emit('error', err));
    return client;
  }

  async connect(): Promise<void> {
    if (this._state === 'connected' || this._state === 'connecting') return;
    this.setState('connecting');
    const publisher = this.open();
    const subscriber = this.open();
    try {
      await Promise.all([publisher.connect(), subscriber.connect()]);
      subscriber.on('message', (channel: string, message: string) => this.receive(channel, message));
      subscriber.on('ready', () => this.setState('connected'));
      subscriber.on('reconnecting', () => this.setState('reconnecting'));
      await subscriber.subscribe(this.jobsChannel, this.stateChannel);
    } catch (err) {
      publisher.disconnect();
      subscriber.disconnect();
      this.setState('error');
      throw err;
    }
    this.publisher = publisher;
    this.subscriber = subscriber;
    this.setState('connected');
  }

  async disconnect(): Promise<void> {
    const clients = [this.publisher, this.subscriber];
    this.publisher = this.subscriber = undefined;
    this.handlers.clear();
    this.stateHandlers.clear();
    await Promise.all(clients.map((c) => c?.quit().catch(() => c.disconnect())));
    this.setState('disconnected');
  }

  async publish(notification: JobNotification): Promise<void> {
    if (!this.publisher || this._state !== 'connected') throw new Error('Cannot publish: channel not connected');
    await this.publisher.publish(this.jobsChannel, JSON.stringify(notification));
  }

  async publishState(notification: JobStateNotification): Promise<void> {
    if (!this.publisher || this._state !== 'connected') throw new Error('Cannot publish state: channel not connected');
    await this.publisher.publish(this.stateChannel, JSON.stringify(notification));
  }

  private receive(channel: string, message: string): void {
    try {
      if (channel === this.jobsChannel) void this.notifyHandlers(revive<JobNotification>(message));
      else if (channel === this.stateChannel) void this.notifyStateHandlers(revive<JobStateNotification>(message));
    } catch (err) {
      this.emit('error', err as Error);
    }
  }
}
