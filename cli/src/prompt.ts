// Asking the user at a terminal: confirming what cannot be undone (the user types the name back;
// elsewhere, in CI and pipes, there is nobody to ask, so `--yes` must say it up front), and
// secrets (tokens, passphrases) typed without echo.
import { createInterface } from 'node:readline/promises';

/** true when the user typed `expected`; throws when stdin is not a terminal. */
export async function confirmByName(question: string, expected: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new NotInteractiveError();
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question}\nType "${expected}" to confirm: `);
    return answer.trim() === expected;
  } finally {
    rl.close();
  }
}

/**
 * Reads a secret from the terminal without echoing it: the terminal goes to raw mode before the
 * prompt is shown, so not even the terminal's own echo shows what is typed (or pasted early).
 * Enter or Ctrl-D ends the input; Ctrl-C ends fmdc.
 */
export async function askSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new NotInteractiveError();
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  process.stderr.write(question);
  stdin.resume();
  return new Promise((resolve) => {
    let value = '';
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (typed: string) => {
      for (const c of typed) {
        if (c === '\r' || c === '\n' || c === '\u0004') {
          done();
          resolve(value);
          return;
        }
        if (c === '\u0003') {
          done();
          process.exit(130);
        }
        if (c === '\u007f' || c === '\b') value = value.slice(0, -1);
        else if (c >= ' ') value += c;
      }
    };
    stdin.on('data', onData);
  });
}

export class NotInteractiveError extends Error {
  constructor() {
    super('stdin is not a terminal');
  }
}

/** The first `n` lines of standard input, without their line breaks (a password may have spaces). */
export async function readStdinLines(n: number): Promise<string[]> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.split(/\r?\n/).slice(0, n);
}

/** The first line of standard input. */
export async function readStdinLine(): Promise<string> {
  return (await readStdinLines(1))[0] ?? '';
}

/**
 * A password: the first line of stdin with `fromStdin`, else typed twice (with `confirm`) at a
 * prompt without echo. Throws NotInteractiveError when there is no terminal to ask on.
 */
export async function askPassword(o: { fromStdin: boolean; question: string; confirm?: boolean }): Promise<string> {
  if (o.fromStdin) return readStdinLine();
  const first = await askSecret(o.question);
  if (o.confirm && (await askSecret('Again, to confirm: ')) !== first) throw new PasswordMismatchError();
  return first;
}

export class PasswordMismatchError extends Error {
  constructor() {
    super('the two passwords differ');
  }
}
