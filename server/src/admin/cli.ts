// What the fmd subcommands share: their shape, usage errors (exit 2), and option parsing that
// turns node:util's parse errors into usage errors.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type CommandModule = {
  /** the exit code, or 'running' for a command that goes on until a signal (serve, worker) */
  run(args: string[]): Promise<number | 'running'>;
};

/** Bad usage: the dispatcher prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** parseArgs, strict, with its errors (unknown flag, missing value, stray argument) as UsageErrors. */
export function parseOptions<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message);
    throw err;
  }
}

/** A quiet logger for one-shot commands: their output is their lines, not JSON logs. */
export const quietLog = {
  info() {},
  warn() {},
};
