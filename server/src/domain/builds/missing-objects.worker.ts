// The worker thread of MissingObjectsAnswerer: answers large missing_objects bodies with a heap
// of its own, so their garbage never pauses the server's event loop.
import { parentPort } from 'node:worker_threads';
import { InvalidInputError } from '../errors.ts';
import { answerMissingObjects, type MissingObjectsRepos } from './missing-objects.ts';

parentPort!.on('message', async (m: { id: number; body: Uint8Array; repos: MissingObjectsRepos }) => {
  try {
    const answer = await answerMissingObjects(Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength), m.repos);
    parentPort!.postMessage({ id: m.id, answer }, [answer.buffer as ArrayBuffer]);
  } catch (err) {
    const e = err as Error;
    parentPort!.postMessage({ id: m.id, error: { invalidInput: err instanceof InvalidInputError, message: e.message, field: err instanceof InvalidInputError ? err.field : undefined } });
  }
});
