// Job logs: append-only lines stored in job_logs, addressed by byte offset (UTF-8), the unit
// flat-manager's server uses for `log-offset` (its clients count differently: readLogForClient).
// Writers batch lines; readers replay from any offset and then follow live events without gaps
// or duplicates.
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { EventBus } from '../events.ts';

export type LogChunk = { offset: number; text: string };
/** Live log event: a chunk, or the end of the log when the job is over. */
export type LogEvent = LogChunk | { offset: number; done: true };

export const logTopic = (jobId: number) => `job.${jobId}.log`;

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * The part of `chunk` at or after byte `from` (chunks are whole lines; `from` may fall inside one).
 * An offset inside a multi-byte character starts at that character: a reader gets it whole
 * (perhaps again) instead of a replacement character and a lost one.
 */
function sliceFrom(chunk: LogChunk, from: number): LogChunk {
  if (from <= chunk.offset) return chunk;
  const bytes = Buffer.from(chunk.text, 'utf8');
  let start = from - chunk.offset;
  while (start > 0 && start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start--;
  return { offset: chunk.offset + start, text: bytes.subarray(start).toString('utf8') };
}

/** Characters as Python's len counts them: code points (a surrogate pair in JS is one). */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

export class JobLogWriter {
  private readonly prisma: PrismaClient;
  private readonly events: EventBus;
  private readonly jobId: number;
  private size: number;
  private pending: LogChunk[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

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
    // Followers were told the log is complete, and the job's end may be the last thing its
    // worker writes before it stops: a late line (a tool's output after its exit) is dropped.
    if (this.closed) return;
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
    this.closed = true;
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
 * The log after a flat-manager client's `log-offset`. The two flat-manager clients count what
 * they printed differently: the Python flat-manager-client adds `len(log)` (characters), the
 * Rust one `log.len()` (UTF-8 bytes), and flat-manager itself slices at a byte offset (a
 * character count that lands inside a multi-byte character makes it fail; one that does not
 * makes the Python client print text twice). With non-ASCII text the units differ, and
 * honouring either one alone would make the other client lose text (an offset read as
 * characters skips ahead of a byte-counting client) or print it twice.
 *
 * A client that follows a log from the start only ever sends the end of what it was given, and
 * every answer ends at a stored line (lines are stored whole, in order), so its offset is a line
 * boundary in its own unit. fmd therefore reads the offset in the unit in which it is a line
 * boundary of this log, which is exact for both clients. When it is a boundary in both units at
 * different lines (possible only after non-ASCII text, and rare), fmd answers from the earlier
 * one, the byte reading: a Python client then prints a few lines twice but never misses one.
 * Any other offset (not from a follower) is a byte offset, moved back to the start of the
 * character it falls in, so no answer ever splits a UTF-8 sequence.
 */
export async function readLogForClient(prisma: PrismaClient, jobId: number, offset: number, lineEnds = new LineEndCache()): Promise<string> {
  const from = Math.max(0, offset);
  if (from === 0) return readLog(prisma, jobId, 0);
  const ends = await lineEnds.read(prisma, jobId);
  const byBytes = findSorted(ends.bytes, from);
  const line = byBytes >= 0 ? byBytes : findSorted(ends.chars, from);
  return readLog(prisma, jobId, line >= 0 ? ends.bytes[line]! : from);
}

/** Where each stored line of a log ends, in UTF-8 bytes and in characters. */
export type LineEnds = { bytes: number[]; chars: number[] };

/**
 * The line ends of job logs, read once: stored lines never change, so a poll only reads the
 * lines stored since the last one instead of the whole log (a 10,000-line log took ~160 ms to
 * read whole on every poll). Holds the most recently read logs (clients follow running jobs).
 */
export class LineEndCache {
  private readonly logs = new Map<number, LineEnds>();
  private readonly capacity: number;

  constructor(capacity = 64) {
    this.capacity = capacity;
  }

  async read(prisma: PrismaClient, jobId: number): Promise<LineEnds> {
    const ends = this.logs.get(jobId) ?? { bytes: [], chars: [] };
    this.logs.delete(jobId);
    this.logs.set(jobId, ends);
    if (this.logs.size > this.capacity) this.logs.delete(this.logs.keys().next().value!);
    const known = ends.bytes.at(-1) ?? 0;
    const rows = await prisma.jobLog.findMany({ where: { jobId, offset: { gte: known } }, orderBy: { offset: 'asc' }, select: { offset: true, text: true } });
    for (const row of rows) {
      // Another request may have added these lines meanwhile: take each line once, in order.
      const end = ends.bytes.at(-1) ?? 0;
      if (row.offset < end) continue;
      if (row.offset > end) break;
      ends.bytes.push(end + byteLength(row.text));
      ends.chars.push((ends.chars.at(-1) ?? 0) + codePointLength(row.text));
    }
    return ends;
  }
}

/** The index of `value` in ascending `sorted`, or -1. */
function findSorted(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] === value) return mid;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
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
