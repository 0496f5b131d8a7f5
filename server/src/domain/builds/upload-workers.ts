// Worker threads that verify and write the small objects of upload requests (storeVerified).
// Inflating and hashing an object costs far more than reading it from the request, and one
// event loop does one at a time: with a thread per core the objects of a request are checked
// side by side while the request is still arriving, and the event loop stays free to read it.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { ObjectVerificationError, type ObjectType } from '../../ostree/objects.ts';
import type { StoreJob } from './upload-store.ts';

type Reply = { id: number; error?: { message: string; code?: string; verification: { type: ObjectType; expected: string } | null } };

export class UploadWorkers {
  private readonly size: number;
  private readonly workers: Worker[] = [];
  private nextWorker = 0;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void; worker: Worker }>();

  constructor(size = Math.min(4, os.availableParallelism())) {
    this.size = Math.max(1, size);
  }

  /** Verifies and writes one object in a worker; its bytes are handed over (detached here). */
  store(job: StoreJob): Promise<void> {
    const worker = this.pick();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, worker });
      worker.ref();
      worker.postMessage({ id, job }, [job.bytes.buffer as ArrayBuffer]);
    });
  }

  /** Round robin: requests are mostly many objects of similar size. */
  private pick(): Worker {
    if (this.workers.length < this.size) return this.start();
    this.nextWorker = (this.nextWorker + 1) % this.workers.length;
    return this.workers[this.nextWorker]!;
  }

  private start(): Worker {
    const worker = new Worker(new URL('./upload-store.worker.ts', import.meta.url));
    worker.on('message', (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (![...this.waiting.values()].some((x) => x.worker === worker)) worker.unref();
      if (!reply.error) return w.resolve();
      const v = reply.error.verification;
      if (v) return w.reject(new ObjectVerificationError(v.type, v.expected, reply.error.message));
      w.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
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
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
