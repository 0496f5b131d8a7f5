// Asking before something that cannot be undone: on a terminal the user types the name back;
// elsewhere (CI, pipes) there is nobody to ask, so `--yes` must say it up front.
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

/** Reads a secret from the terminal without echoing it. */
export async function askSecret(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw new NotInteractiveError();
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // readline echoes what it writes through _writeToOutput; print the prompt only.
  const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WritableStream };
  let prompted = false;
  out._writeToOutput = (s: string) => {
    if (!prompted) {
      out.output.write(s);
      prompted = true;
    }
  };
  try {
    return await rl.question(question);
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

export class NotInteractiveError extends Error {
  constructor() {
    super('stdin is not a terminal');
  }
}
