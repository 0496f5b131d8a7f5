// Worker threads that verify and write the small objects of upload requests (storeVerified).
// Inflating and hashing an object costs far more than reading it from the request, and one
// event loop does one at a time: with a thread per core the objects of a request are checked
// side by side while the request is still arriving, and the event loop stays free to read it.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { ObjectVerificationError, type ObjectType } from '../../ostree/objects.ts';
import type { ReceivedObject, StoreJob } from './upload-store.ts';

export type StoreReply = { id: number; error?: { message: string; code?: string; verification: { type: ObjectType; expected: string } | null } };

type Waiting = { resolve: () => void; reject: (e: Error) => void; worker: Worker; region: Region | null };
type Region = { start: number; end: number; done: boolean };
/** A job as a worker gets it: its bytes of its own, or their place in the shared ring. */
export type WorkerJob = Omit<StoreJob, 'bytes'> & ({ bytes: Uint8Array; inRing?: undefined } | { bytes?: undefined; inRing: [start: number, length: number] });

export class UploadWorkers {
  private readonly size: number;
  private readonly workers: Worker[] = [];
  private nextWorker = 0;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();
  private batch: { id: number; job: WorkerJob }[] = [];
  private batchBytes = 0;
  private flushScheduled = false;
  private closed = false;

  private readonly ringBytes: number;

  constructor(o: { threads?: number; ringBytes?: number } = {}) {
    this.size = Math.max(1, o.threads ?? Math.min(4, os.availableParallelism()));
    this.ringBytes = o.ringBytes ?? RING_BYTES;
  }

  /**
   * Verifies and writes one object in a worker. Its bytes are copied into a ring of shared
   * memory the workers read them from: reused memory, where a buffer per object would make
   * the event loop's garbage collector chase hundreds of MB per push. (An object that finds no
   * room there travels in a buffer of its own.) The objects read in one turn of the event loop
   * travel in one message: a message per object costs about as much as reading the object.
   */
  store(received: ReceivedObject): Promise<void> {
    const id = this.nextId++;
    const region = this.allocate(received.size);
    const bytes = region ? new Uint8Array(this.ring!, region.start, received.size) : new Uint8Array(received.size);
    let at = 0;
    for (const c of received.chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    // In the ring the worker finds the bytes by their place (the ring itself went to it once).
    const job: WorkerJob = { ...(region ? { inRing: [region.start, received.size] } : { bytes }), object: received.object, tmp: received.tmp, dest: received.dest };
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, worker: null as unknown as Worker, region });
      this.batch.push({ id, job });
      this.batchBytes += received.size;
      if (this.batchBytes >= BATCH_BYTES) this.flush();
      else if (!this.flushScheduled) {
        // The end of a request flushes at once (flush()); this is for a request that pauses.
        this.flushScheduled = true;
        setTimeout(() => this.flush(), 1);
      }
    });
  }

  /** Sends the objects waiting for a batch to fill: a request has been read to its end. */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    this.batchBytes = 0;
    if (this.closed) {
      for (const { id } of batch) {
        const w = this.waiting.get(id);
        this.waiting.delete(id);
        this.release(w?.region ?? null);
        w?.reject(new Error('the server is stopping'));
      }
      return;
    }
    const worker = this.pick();
    for (const { id } of batch) this.waiting.get(id)!.worker = worker;
    worker.ref();
    const own = batch.flatMap((b) => (b.job.bytes ? [b.job.bytes.buffer as ArrayBuffer] : []));
    worker.postMessage(batch, own);
  }

  private ring: SharedArrayBuffer | null = null;
  /** live regions of the ring, oldest first: the free space runs from the newest's end to the oldest's start */
  private readonly regions: Region[] = [];

  private allocate(size: number): Region | null {
    if (size === 0 || size > this.ringBytes / 8) return null;
    this.ring ??= new SharedArrayBuffer(this.ringBytes);
    const oldest = this.regions[0];
    const head = this.regions.at(-1)?.end ?? 0;
    let start: number | null = null;
    if (!oldest) start = 0;
    else if (head > oldest.start) {
      // Live from the oldest's start to the head: the end of the ring is free, then its beginning.
      if (head + size <= this.ringBytes) start = head;
      else if (size <= oldest.start) start = 0;
    } else if (head + size <= oldest.start) start = head; // wrapped: free between the head and the oldest
    if (start === null) return null;
    const region = { start, end: start + size, done: false };
    this.regions.push(region);
    return region;
  }

  private release(region: Region | null): void {
    if (!region) return;
    region.done = true;
    while (this.regions[0]?.done) this.regions.shift();
  }

  /** Round robin: requests are mostly many objects of similar size. */
  private pick(): Worker {
    if (this.workers.length < this.size) return this.start();
    this.nextWorker = (this.nextWorker + 1) % this.workers.length;
    return this.workers[this.nextWorker]!;
  }

  private start(): Worker {
    this.ring ??= new SharedArrayBuffer(this.ringBytes);
    const worker = new Worker(new URL('./upload-store.worker.ts', import.meta.url), { workerData: { ring: this.ring } });
    worker.on('message', (replies: StoreReply[]) => {
      for (const reply of replies) {
        const w = this.waiting.get(reply.id);
        if (!w) continue;
        this.waiting.delete(reply.id);
        this.release(w.region);
        const v = reply.error?.verification;
        if (!reply.error) w.resolve();
        else if (v) w.reject(new ObjectVerificationError(v.type, v.expected, reply.error.message));
        else w.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      }
      if (![...this.waiting.values()].some((x) => x.worker === worker)) worker.unref();
    });
    const fail = (err: Error) => {
      const i = this.workers.indexOf(worker);
      if (i < 0) return;
      this.workers.splice(i, 1);
      for (const [id, w] of this.waiting) {
        if (w.worker !== worker) continue;
        this.waiting.delete(id);
        this.release(w.region);
        w.reject(err);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`upload worker exited with ${code}`)));
    worker.unref();
    this.workers.push(worker);
    return worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Shared memory for the objects on their way to the workers (more than one request's objects in flight). */
const RING_BYTES = 64 * 1024 * 1024;
/**
 * Objects are sent to a worker in batches of about this many bytes (a message costs the event
 * loop more than copying a small object); the end of each request sends what is left at once.
 */
const BATCH_BYTES = 1024 * 1024;
