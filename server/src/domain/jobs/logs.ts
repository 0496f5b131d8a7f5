// Job logs: append-only lines stored in job_logs, addressed by byte offset (UTF-8), the unit
// of flat-manager's `log-offset`. Writers batch lines; readers replay from any offset and then
// follow live events without gaps or duplicates.
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { EventBus } from '../events.ts';

export type LogChunk = { offset: number; text: string };
/** Live log event: a chunk, or the end of the log when the job is over. */
export type LogEvent = LogChunk | { offset: number; done: true };

export const logTopic = (jobId: number) => `job.${jobId}.log`;

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

/** The part of `chunk` at or after byte `from` (chunks are whole lines; `from` may fall inside one). */
function sliceFrom(chunk: LogChunk, from: number): LogChunk {
  if (from <= chunk.offset) return chunk;
  const bytes = Buffer.from(chunk.text, 'utf8');
  return { offset: from, text: bytes.subarray(from - chunk.offset).toString('utf8') };
}

export class JobLogWriter {
  private readonly prisma: PrismaClient;
  private readonly events: EventBus;
  private readonly jobId: number;
  private size: number;
  private pending: LogChunk[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(prisma: PrismaClient, events: EventBus, jobId: number, startOffset: number) {
    this.prisma = prisma;
    this.events = events;
    this.jobId = jobId;
    this.size = startOffset;
  }

  get offset(): number {
    return this.size;
  }

  /** Queues a line; it is written within ~20 ms, together with its neighbours. */
  append(line: string): void {
    const text = line.endsWith('\n') ? line : `${line}\n`;
    this.pending.push({ offset: this.size, text });
    this.size += byteLength(text);
    this.timer ??= setTimeout(() => void this.flush(), 20);
  }

  /** Writes queued lines (one INSERT), then publishes them: a reader that saw the event can read the row. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return this.flushing;
    const size = this.size;
    this.flushing = this.flushing.then(async () => {
      await this.prisma.jobLog.createMany({ data: batch.map((c) => ({ jobId: this.jobId, offset: c.offset, text: c.text })), skipDuplicates: true });
      await this.prisma.job.updateMany({ where: { id: this.jobId }, data: { logSize: size } });
      for (const c of batch) await this.events.publish(logTopic(this.jobId), c satisfies LogEvent);
    });
    return this.flushing;
  }

  /** Flushes and tells followers the log is complete. */
  async close(): Promise<void> {
    await this.flush();
    await this.events.publish(logTopic(this.jobId), { offset: this.size, done: true } satisfies LogEvent);
  }
}

/** The log from byte `from` on, as stored now, in order. */
export async function readLogChunks(prisma: PrismaClient, jobId: number, from: number): Promise<LogChunk[]> {
  const [containing, after] = await Promise.all([
    prisma.jobLog.findFirst({ where: { jobId, offset: { lte: from } }, orderBy: { offset: 'desc' }, select: { offset: true, text: true } }),
    prisma.jobLog.findMany({ where: { jobId, offset: { gt: from } }, orderBy: { offset: 'asc' }, select: { offset: true, text: true } }),
  ]);
  const chunks: LogChunk[] = [];
  if (containing && containing.offset + byteLength(containing.text) > from) chunks.push(sliceFrom(containing, from));
  chunks.push(...after);
  return chunks;
}

export async function readLog(prisma: PrismaClient, jobId: number, from: number): Promise<string> {
  return (await readLogChunks(prisma, jobId, Math.max(0, from))).map((c) => c.text).join('');
}

/**
 * Replays the log from `from`, then follows it live until the job's log is complete.
 * Subscribes before reading, and skips by offset what the replay already delivered.
 */
export async function* followLog(
  prisma: PrismaClient,
  events: EventBus,
  jobId: number,
  from: number,
  isFinished: () => Promise<{ finished: boolean; size: number }>,
): AsyncGenerator<LogChunk> {
  const live = events.subscribe<LogEvent>(logTopic(jobId));
  let next = Math.max(0, from);
  try {
    const replay = async function* (upTo = Infinity) {
      for (const c of await readLogChunks(prisma, jobId, next)) {
        if (c.offset >= upTo) break;
        yield c;
        next = c.offset + byteLength(c.text);
      }
    };
    yield* replay();
    const state = await isFinished();
    if (state.finished && next >= state.size) return;
    for (;;) {
      const r = await live.next();
      if (r.done) return;
      const ev = r.value;
      if ('done' in ev) {
        if (next < ev.offset) yield* replay();
        return;
      }
      const end = ev.offset + byteLength(ev.text);
      if (end <= next) continue; // already replayed
      if (ev.offset > next) yield* replay(ev.offset); // an event was missed: fill from the store
      if (end <= next) continue;
      const c = sliceFrom(ev, next);
      yield c;
      next = end;
    }
  } finally {
    await live.return?.();
  }
}
