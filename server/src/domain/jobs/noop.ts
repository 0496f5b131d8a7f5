// A diagnostic job: logs `lines` lines over `ms` milliseconds (optionally failing, and with
// either recovery rule). Used to check that workers pick up jobs, by the job-engine tests and
// by the benchmark.
import type { JobKindDefinition } from './queue.ts';

export type NoopPayload = { lines?: number; ms?: number; fail?: boolean; recovery?: 'fail' | 'requeue' };

export const noopJob: JobKindDefinition<NoopPayload> = {
  recovery: (contents) => (contents.recovery === 'fail' ? 'fail' : 'requeue'),
  async handler(run) {
    const lines = Math.min(Number(run.contents.lines ?? 0), 100_000);
    const ms = Math.min(Number(run.contents.ms ?? 0), 3_600_000);
    const fail = run.contents.fail === true;
    for (let i = 0; i < lines; i++) {
      if (run.signal.aborted) throw new Error('cancelled');
      await run.log(`line ${i + 1} of ${lines}`);
      if (ms) await new Promise((r) => setTimeout(r, ms / lines));
    }
    if (!lines && ms) {
      const end = Date.now() + ms;
      while (Date.now() < end && !run.signal.aborted) {
        await new Promise((r) => setTimeout(r, Math.min(100, end - Date.now())));
        await run.progress(1 - (end - Date.now()) / ms);
      }
      if (run.signal.aborted) throw new Error('cancelled');
    }
    if (fail) throw new Error('failed on request');
    return { lines, pid: process.pid };
  },
};
