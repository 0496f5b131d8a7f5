// The base of every fmdc command: where the server is, which token to use, `--json`, and
// errors that say what to do next.
//
// Exit codes: 1 the server refused the request (typed error, GraphQL error), 2 bad usage
// (oclif's own), 3 the server could not be reached, 4 the token is missing, invalid or lacks
// a scope, 5 a job or build the command followed failed, 6 it was cancelled, 130 Ctrl-C.
import { Command, Errors, Flags, type Interfaces } from '@oclif/core';
import { createFmdClient, FmdRequestError, type ErrorResult, type FmdClient } from '@fmd/sdk';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof FmdCommand)['baseFlags'] & T['flags']>;
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

export const exitCodes = { failed: 1, usage: 2, unreachable: 3, auth: 4, jobFailed: 5, jobCancelled: 6, interrupted: 130 } as const;

const tokenHelp = 'Pass a token with --token or set FMD_TOKEN. The server prints an admin token at its first start; `npm run token -- --admin` on the server mints another.';

export abstract class FmdCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    url: Flags.string({
      description: 'fmd server URL',
      env: 'FMD_URL',
      default: 'http://localhost:8080',
      helpGroup: 'GLOBAL',
    }),
    token: Flags.string({
      description: 'API token (JWT)',
      env: 'FMD_TOKEN',
      helpGroup: 'GLOBAL',
    }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: BaseArgs<T>;
  /** every positional argument, for commands with `strict = false` */
  protected argList!: string[];
  #client: FmdClient | undefined;

  override async init(): Promise<void> {
    await super.init();
    const ctor = this.ctor as typeof FmdCommand;
    const { flags, args, argv } = await this.parse({
      flags: ctor.flags,
      baseFlags: ctor.baseFlags,
      enableJsonFlag: ctor.enableJsonFlag,
      args: ctor.args,
      strict: ctor.strict,
    });
    this.flags = flags as BaseFlags<T>;
    this.args = args as BaseArgs<T>;
    this.argList = argv.map(String);
  }

  /** A client for --url with --token; fails with a hint when no token was given. */
  protected client(): FmdClient {
    if (!this.flags.token) {
      this.error('no API token given.', { exit: exitCodes.auth, suggestions: [tokenHelp] });
    }
    this.#client ??= createFmdClient({ url: this.flags.url, token: this.flags.token });
    return this.#client;
  }

  /** Turns a typed error result of a mutation into a command failure. */
  protected failWith(result: ErrorResult & { requiredScope?: string | null; field?: string | null }): never {
    const suggestions: string[] = [];
    if (result.requiredScope) suggestions.push(`Use a token with the "${result.requiredScope}" scope.`);
    else if (result.errorType === 'token-insufficient') suggestions.push('A token can only create tokens with at most its own scopes, prefixes, apps and repos.');
    if (result.field) suggestions.push(`Check the value given for ${result.field}.`);
    this.error(result.message, { exit: result.errorType === 'token-insufficient' ? exitCodes.auth : exitCodes.failed, suggestions, code: result.errorType });
  }

  override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    return super.catch(err instanceof FmdRequestError ? this.explain(err) : err);
  }

  override async finally(err: Error | undefined): Promise<unknown> {
    await this.#client?.close();
    return super.finally(err);
  }

  /** What went wrong with a request, and what to do about it. */
  private explain(err: FmdRequestError): Errors.CLIError {
    const url = this.flags?.url ?? 'the server';
    if (err.status === 0) {
      return new Errors.CLIError(err.message, {
        exit: exitCodes.unreachable,
        code: 'unreachable',
        suggestions: [`Check the server URL (--url or FMD_URL, now ${url}) and that the server is running.`],
      });
    }
    if (err.code === 'UNAUTHENTICATED') {
      return new Errors.CLIError(`the server rejected the token: ${err.message}`, { exit: exitCodes.auth, code: err.errorType ?? 'invalid-token', suggestions: [tokenHelp] });
    }
    if (err.code === 'FORBIDDEN') {
      return new Errors.CLIError(err.message, {
        exit: exitCodes.auth,
        code: err.errorType ?? 'token-insufficient',
        suggestions: ['Use a token with the scope this needs; `fmdc whoami` shows what yours has.'],
      });
    }
    const hint = err.status >= 500 ? 'The server failed; retry shortly, or check its log.' : `Check the request; the server answered HTTP ${err.status}.`;
    return new Errors.CLIError(err.message, { exit: exitCodes.failed, code: err.code ?? 'request-failed', suggestions: [hint] });
  }
}
