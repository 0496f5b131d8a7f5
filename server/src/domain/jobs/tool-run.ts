// How a job runs external tools: their output lines go to the job log.
import type { ToolRunOptions } from '../../ostree/ostree.ts';
import type { JobRun } from './queue.ts';

/** Tool options for a job: output lines go to the job log; `flush` waits for them to be stored. */
export function toolRun(run: Pick<JobRun, 'signal' | 'log'>): ToolRunOptions & { flush(): Promise<void> } {
  const pending: Promise<void>[] = [];
  return {
    signal: run.signal,
    timeoutMs: 60 * 60_000,
    onLine: (l) => void pending.push(run.log(l)),
    flush: () => Promise.all(pending.splice(0)).then(() => undefined),
  };
}
