// A job's log, live: follows `jobLog({ number, fromOffset })` and appends its text to a
// <pre role="log">, scrolled along while the reader is at the bottom.
//
// Chunks carry the UTF-8 byte offsets of their text in the whole log (`offset`, `nextOffset`).
// graphql-ws re-subscribes after a reconnect with the variables the subscription started with, so
// the server replays from the first `fromOffset` again: every chunk is merged against the bytes
// already shown (`mergeChunk`), dropping what is already there, so no line is lost or repeated.
import type { PageContext } from './pages/page.ts';
import { h } from './ui.ts';

export type LogChunk = { offset: number; nextOffset?: number; text: string };

/** What a chunk adds to a log that holds its first `have` bytes. */
export type Merge =
  /** `text` (possibly empty: all of it was there already) and the new byte count */
  | { kind: 'append'; text: string; have: number }
  /** the chunk starts after `have`: bytes `from`..`to` were never received */
  | { kind: 'gap'; from: number; to: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

export const byteLength = (s: string): number => encoder.encode(s).length;

/**
 * Merges a chunk into a log that holds bytes [0, have): the part of the chunk past `have`, cut by
 * UTF-8 bytes. A cut that falls inside a multi-byte character moves past it: the server starts
 * every chunk at a character's first byte, so such a character is one the log already holds.
 */
export function mergeChunk(have: number, chunk: LogChunk): Merge {
  if (chunk.offset > have) return { kind: 'gap', from: have, to: chunk.offset };
  const bytes = encoder.encode(chunk.text);
  const end = chunk.offset + bytes.length;
  if (end <= have) return { kind: 'append', text: '', have };
  let cut = have - chunk.offset;
  while (cut > 0 && cut < bytes.length && (bytes[cut]! & 0xc0) === 0x80) cut++;
  return { kind: 'append', text: decoder.decode(bytes.subarray(cut)), have: end };
}

/**
 * Merges chunks in order, as the component does: the log text and its byte count. A chunk after a
 * gap is taken as it is (the component first fetches the missing bytes; here there is no one to
 * ask), and the gap is reported.
 */
export function mergeChunks(chunks: readonly LogChunk[], start = { text: '', have: 0 }): { text: string; have: number; gaps: { from: number; to: number }[] } {
  let { text, have } = start;
  const gaps: { from: number; to: number }[] = [];
  for (const c of chunks) {
    let m = mergeChunk(have, c);
    if (m.kind === 'gap') {
      gaps.push({ from: m.from, to: m.to });
      m = mergeChunk(c.offset, c);
      if (m.kind === 'gap') continue; // cannot happen: a chunk never starts after itself
    }
    text += m.text;
    have = m.have;
  }
  return { text, have, gaps };
}

/** True when a scrolled box shows its last line (within a few pixels). */
export function atBottom(el: { scrollTop: number; clientHeight: number; scrollHeight: number }, slack = 8): boolean {
  return el.scrollTop + el.clientHeight >= el.scrollHeight - slack;
}

/**
 * The SDK types subscriptions as AsyncIterable; at run time each is an iterator whose `return()`
 * unsubscribes, which is what `ctx.follow` takes.
 */
export function live<T>(events: AsyncIterable<T>): AsyncIterableIterator<T> {
  return events as AsyncIterableIterator<T>;
}

export type LiveLogContext = Pick<PageContext, 'client' | 'follow' | 'failed'>;

export type LiveLog = {
  /** the log box with its status line */
  element: HTMLElement;
  /** stops following (the page leaving stops it too) */
  stop(): void;
  /** bytes shown */
  readonly size: number;
};

/**
 * Follows job `number`'s log from its start into a `<pre role="log" aria-live="polite">`.
 * `onEnd` is called once the job is over and its whole log is shown.
 */
export function liveLog(ctx: LiveLogContext, number: number, opts: { label?: string; onEnd?: () => void } = {}): LiveLog {
  const pre = h('pre', { className: 'live-log', tabIndex: 0 });
  pre.setAttribute('role', 'log');
  pre.setAttribute('aria-live', 'polite');
  pre.setAttribute('aria-label', opts.label ?? `Log of job ${number}`);
  const status = h('p', { className: 'muted live-log-status' }, 'Loading the log…');
  const empty = h('span', { className: 'empty' }, 'The log is empty so far.');
  // shown when output arrives while the reader is scrolled up
  const jump = h('button', { type: 'button', className: 'secondary small live-log-jump', hidden: true }, 'New output: jump to the end');
  jump.onclick = () => {
    pre.scrollTop = pre.scrollHeight;
    jump.hidden = true;
    pre.focus();
  };
  pre.addEventListener('scroll', () => {
    if (!jump.hidden && atBottom(pre)) jump.hidden = true;
  });
  const element = h('div', { className: 'live-log-box' }, pre, jump, status);

  let have = 0;
  let stopped = false;
  let shownEmpty = false;
  let busy: Promise<void> = Promise.resolve();

  const append = (text: string) => {
    if (!text) return;
    if (shownEmpty) {
      empty.remove();
      shownEmpty = false;
    }
    const follow = atBottom(pre);
    pre.append(text);
    if (follow) pre.scrollTop = pre.scrollHeight;
    else jump.hidden = false;
  };

  /** The bytes of a gap, read once from the job's log as it is now. */
  const fillGap = async (from: number) => {
    const r = await ctx.client.job({ number, withLog: true, logOffset: from });
    const chunk = r.job?.log;
    if (!chunk) return;
    const m = mergeChunk(have, chunk);
    if (m.kind === 'append') {
      append(m.text);
      have = m.have;
    }
  };

  const onChunk = (chunk: LogChunk) => {
    // Chunks are handled one after another: a gap is filled before the next chunk is merged.
    busy = busy.then(async () => {
      if (stopped) return;
      let m = mergeChunk(have, chunk);
      if (m.kind === 'gap') {
        try {
          await fillGap(m.from);
        } catch {
          // shown as it is: better a visible jump than a stalled log
        }
        m = mergeChunk(have, chunk);
        if (m.kind === 'gap') m = mergeChunk(chunk.offset, chunk);
      }
      if (m.kind === 'append') {
        append(m.text);
        have = Math.max(have, m.have);
      }
      status.textContent = `Following… (${have.toLocaleString()} bytes)`;
    });
  };

  const events = live(ctx.client.jobLog({ number, fromOffset: 0 }));
  const tracked: AsyncIterableIterator<{ jobLog: LogChunk }> = {
    async next() {
      const r = await events.next();
      if (r.done && !stopped) {
        void busy.then(() => {
          if (have === 0) {
            if (!shownEmpty) pre.append(empty);
            shownEmpty = true;
            empty.textContent = 'The job wrote no log.';
          }
          status.textContent = `End of log (${have.toLocaleString()} bytes): the job is over.`;
          opts.onEnd?.();
        });
      }
      return r;
    },
    return: () => events.return?.() ?? Promise.resolve({ done: true, value: undefined }),
    [Symbol.asyncIterator]() {
      return tracked;
    },
  };
  ctx.follow(
    tracked,
    (e) => onChunk(e.jobLog),
    (err) => {
      status.className = 'error live-log-status';
      status.setAttribute('role', 'alert');
      status.textContent = `The log stopped: ${ctx.failed(err) || 'signed out'}`;
    },
  );
  // An empty log says so once the first answer is late.
  setTimeout(() => {
    if (!stopped && have === 0 && !shownEmpty) {
      pre.append(empty);
      shownEmpty = true;
      if (status.textContent === 'Loading the log…') status.textContent = 'Following… (waiting for output)';
    }
  }, 1500);

  return {
    element,
    stop() {
      if (stopped) return;
      stopped = true;
      void events.return?.();
    },
    get size() {
      return have;
    },
  };
}
