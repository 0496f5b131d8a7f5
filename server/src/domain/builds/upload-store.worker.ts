// A thread of UploadWorkers: verifies small uploaded objects and puts them in place
// (storeVerified), so that inflating and hashing run on every core, off the event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { ObjectVerificationError } from '../../ostree/objects.ts';
import { storeVerified } from './upload-store.ts';
import type { StoreReply, WorkerJob } from './upload-workers.ts';

const ring = (workerData as { ring: SharedArrayBuffer }).ring;

/** Object directories known to exist: each upload repo's `objects/xx` is made once per thread. */
const madeDirs = new Set<string>();

parentPort!.on('message', async (batch: { id: number; job: WorkerJob }[]) => {
  const replies: StoreReply[] = [];
  for (const { id, job } of batch) {
    try {
      const bytes = job.bytes ?? new Uint8Array(ring, job.inRing[0], job.inRing[1]);
      await storeVerified({ bytes, object: job.object, tmp: job.tmp, dest: job.dest }, madeDirs);
      replies.push({ id });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const verification = err instanceof ObjectVerificationError ? { type: err.type, expected: err.expected } : null;
      replies.push({ id, error: { message: e.message, code: e.code, verification } });
    }
  }
  if (madeDirs.size > 100_000) madeDirs.clear();
  parentPort!.postMessage(replies);
});
