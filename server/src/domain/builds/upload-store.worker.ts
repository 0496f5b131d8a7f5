// A thread of UploadWorkers: verifies small uploaded objects and puts them in place
// (storeVerified), so that inflating and hashing run on every core, off the event loop.
import { parentPort } from 'node:worker_threads';
import { ObjectVerificationError } from '../../ostree/objects.ts';
import { storeVerified, type StoreJob } from './upload-store.ts';

/** Object directories known to exist: each upload repo's `objects/xx` is made once per thread. */
const madeDirs = new Set<string>();

parentPort!.on('message', async (m: { id: number; job: StoreJob }) => {
  try {
    await storeVerified(m.job, madeDirs);
    parentPort!.postMessage({ id: m.id });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (madeDirs.size > 100_000) madeDirs.clear();
    parentPort!.postMessage({ id: m.id, error: { message: e.message, code: e.code, verification: err instanceof ObjectVerificationError ? { type: (err as ObjectVerificationError).type, expected: (err as ObjectVerificationError).expected } : null } });
  }
});
