// Long loops over request data give the event loop back every few milliseconds, so that one
// large request does not hold up every other (health checks, GraphQL, downloads).
import { setImmediate as nextTurn } from 'node:timers/promises';

export class Yielder {
  private last = performance.now();
  private readonly sliceMs: number;
  constructor(sliceMs = 8) {
    this.sliceMs = sliceMs;
  }

  /** Yields to the event loop when the current slice has run for sliceMs. */
  async maybe(): Promise<void> {
    if (performance.now() - this.last < this.sliceMs) return;
    await nextTurn();
    this.last = performance.now();
  }
}
