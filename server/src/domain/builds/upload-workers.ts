// Worker threads that verify and write the small objects of upload requests (storeVerified).
// Inflating and hashing an object costs far more than reading it from the request, and one
// event loop does one at a time: with a thread per core the objects of a request are checked
// side by side while the request is still arriving, and the event loop stays free to read it.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { ObjectVerificationError, type ObjectType } from '../../ostree/objects.ts';
import type { StoreJob } from './upload-store.ts';

export type StoreReply = { id: number; error?: { message: string; code?: string; verification: { type: ObjectType; expected: string } | null } };

type Waiting = { resolve: () => void; reject: (e: Error) => void; worker: Worker };

export class UploadWorkers {
  private readonly size: number;
  private readonly workers: Worker[] = [];
  private nextWorker = 0;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();
  private batch: { id: number; job: StoreJob }[] = [];
  private batchBytes = 0;
  private flushScheduled = false;
  private closed = false;

  constructor(size = Math.min(4, os.availableParallelism())) {
    this.size = Math.max(1, size);
  }

  /**
   * Verifies and writes one object in a worker; its bytes are handed over (detached here).
   * The objects read in one turn of the event loop (from one read of the socket) travel in one
   * message: a message per object costs the event loop about as much as reading the object.
   */
  store(job: StoreJob): Promise<void> {
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, worker: null as unknown as Worker });
      this.batch.push({ id, job });
      this.batchBytes += job.bytes.byteLength;
      if (this.batchBytes >= MAX_BATCH_BYTES) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    this.batchBytes = 0;
    if (this.closed) {
      for (const { id } of batch) this.waiting.get(id)?.reject(new Error('the server is stopping'));
      for (const { id } of batch) this.waiting.delete(id);
      return;
    }
    const worker = this.pick();
    for (const { id } of batch) this.waiting.get(id)!.worker = worker;
    worker.ref();
    worker.postMessage(batch, batch.map((b) => b.job.bytes.buffer as ArrayBuffer));
  }

  /** Round robin: requests are mostly many objects of similar size. */
  private pick(): Worker {
    if (this.workers.length < this.size) return this.start();
    this.nextWorker = (this.nextWorker + 1) % this.workers.length;
    return this.workers[this.nextWorker]!;
  }

  private start(): Worker {
    const worker = new Worker(new URL('./upload-store.worker.ts', import.meta.url));
    worker.on('message', (replies: StoreReply[]) => {
      for (const reply of replies) {
        const w = this.waiting.get(reply.id);
        if (!w) continue;
        this.waiting.delete(reply.id);
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

/** A batch is sent at once when it reaches this size, without waiting for the end of the turn. */
const MAX_BATCH_BYTES = 1024 * 1024;
