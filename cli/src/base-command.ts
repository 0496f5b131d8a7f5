// The base of every fmdc command: where the server is, which token to use (see config.ts for
// the precedence of flags, environment and profiles), `--json`, flat-manager-client's global
// options (--token-file, --print-output, --output, --debug, --verbose), and errors that say what
// to do next.
//
// Exit codes: 1 the server refused the request (typed error, GraphQL or REST error), 2 bad usage
// (oclif's own, and bad input found before anything was sent: a URL, a token file), 3 the server
// could not be reached, 4 the token is missing, invalid or lacks a scope, 5 a job (or build) the
// command followed failed, 6 it was cancelled, 130 Ctrl-C.
import { writeFile } from 'node:fs/promises';
import { Command, Errors, Flags, type Interfaces } from '@oclif/core';
import { createFmdClient, FmdRequestError, type ErrorResult, type FmdClient } from '@fmd/sdk';
import { ConfigError, ProfileStore, Settings, type Profile, type TokenSource } from './config.ts';
import { FlatManagerError, type FollowedJob } from '@fmd/sdk/push';
import { FlatManagerVerbs, TracedRestClient, type Trace } from './rest.ts';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof FmdCommand)['baseFlags'] & T['flags']>;
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

export const exitCodes = { failed: 1, usage: 2, unreachable: 3, auth: 4, jobFailed: 5, jobCancelled: 6, interrupted: 130 } as const;

const tokenHelp =
  'Log in once with `fmdc login --url <server>`, or pass a token with --token or --token-file, or set FMDC_TOKEN (or REPO_TOKEN). The server prints an admin token at its first start; `npm run token -- --admin` on the server mints another.';

export abstract class FmdCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    url: Flags.string({
      description: 'fmd server URL [default: FMDC_URL, then the profile, then http://localhost:8080]',
      helpGroup: 'GLOBAL',
    }),
    token: Flags.string({
      description: 'API token (JWT) [default: --token-file, REPO_TOKEN, FMDC_TOKEN, then the profile]',
      helpGroup: 'GLOBAL',
    }),
    'token-file': Flags.string({
      description: 'read the API token from the first line of this file',
      helpGroup: 'GLOBAL',
    }),
    profile: Flags.string({
      description: 'the login profile to use [default: FMDC_PROFILE, then "default"]',
      helpGroup: 'GLOBAL',
    }),
    'print-output': Flags.boolean({
      description: 'at the end, print {"command", "result"|"error"} as JSON (flat-manager-client\'s output)',
      helpGroup: 'GLOBAL',
    }),
    output: Flags.string({
      description: 'at the end, write {"command", "result"|"error"} as JSON to this file',
      helpGroup: 'GLOBAL',
    }),
    verbose: Flags.boolean({
      description: 'log each HTTP request to stderr',
      helpGroup: 'GLOBAL',
    }),
    debug: Flags.boolean({
      description: 'log each HTTP request with its headers and bodies to stderr (the token redacted)',
      helpGroup: 'GLOBAL',
    }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: BaseArgs<T>;
  /** every positional argument, for commands with `strict = false` */
  protected argList!: string[];
  /** flags, environment and the selected profile */
  protected settings!: Settings;
  #server: { url: string; from: string } | undefined;
  #auth: { token: string; from: TokenSource; session?: Profile } | undefined;
  #client: FmdClient | undefined;
  #restClients: TracedRestClient[] = [];
  #failure: unknown;

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
    this.settings = new Settings(new ProfileStore(this.config.configDir), {
      url: this.flags.url,
      token: this.flags.token,
      tokenFile: this.flags['token-file'],
      profile: this.flags.profile,
    });
    this.#server = await this.settings.serverUrl();
    this.#auth = await this.settings.token(this.#server.url);
  }

  /** The fmd server this command talks to (--url, FMDC_URL, the profile, the default). */
  protected serverUrl(): string {
    return this.#server!.url;
  }

  /**
   * The token for the server; fails with a hint when there is none. (Not `token()`: oclif's
   * parser writes the argument it is parsing to `this.token` on the command.)
   */
  protected apiToken(): string {
    if (!this.#auth) this.noToken(this.serverUrl());
    return this.#auth.token;
  }

  /** The token for another server than serverUrl() (a flat-manager-client verb's URL argument). */
  protected async apiTokenFor(url: string): Promise<string> {
    const auth = await this.settings.token(url);
    if (!auth) this.noToken(url);
    return auth.token;
  }

  private noToken(url: string): never {
    this.error(`no API token given for ${url}.`, { exit: exitCodes.auth, suggestions: [tokenHelp] });
  }

  /**
   * A client for the server with the token; fails with a hint when no token was given. A
   * profile's password sign-in is renewed as needed, and the renewed tokens are stored.
   */
  protected client(): FmdClient {
    const token = this.apiToken();
    const session = this.#auth?.session;
    const fetch = this.trace() && { fetch: this.tracedFetch(this.trace()!) };
    if (session?.refreshToken) {
      const profileName = this.settings.profileName;
      const store = this.settings.store;
      this.#client ??= createFmdClient({
        url: this.serverUrl(),
        session: {
          accessToken: session.token,
          refreshToken: session.refreshToken,
          accessTokenExpiresAt: session.accessTokenExpiresAt,
          refreshTokenExpiresAt: session.refreshTokenExpiresAt,
          onTokens: async (t) => {
            await store.set(profileName, { ...session, token: t.accessToken, refreshToken: t.refreshToken, accessTokenExpiresAt: t.accessTokenExpiresAt, refreshTokenExpiresAt: t.refreshTokenExpiresAt });
          },
        },
        ...fetch,
      });
    }
    this.#client ??= createFmdClient({ url: this.serverUrl(), token, ...fetch });
    return this.#client;
  }

  /** The stored password sign-in in use, if the token is one. */
  protected storedSession(): Profile | undefined {
    return this.#auth?.session;
  }

  /**
   * flat-manager-client's verbs over the REST API with the token for `url`; their progress lines
   * go to stderr (also under --json), so that stdout holds only what scripts capture.
   */
  protected async rest(url: string): Promise<FlatManagerVerbs> {
    const client = new TracedRestClient({ token: await this.apiTokenFor(url), trace: this.trace(), bodies: this.flags.debug });
    this.#restClients.push(client);
    return new FlatManagerVerbs(client, (line) => process.stderr.write(`${line}\n`));
  }

  /** --verbose and --debug: HTTP requests to stderr, also under --json (whose output is stdout). */
  protected trace(): Trace | undefined {
    if (!this.flags.verbose && !this.flags.debug) return undefined;
    return (line) => process.stderr.write(`fmdc: ${line}\n`);
  }

  private tracedFetch(trace: Trace): typeof fetch {
    const debug = this.flags.debug;
    return async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const method = init?.method ?? 'GET';
      trace(`> ${method} ${url}${debug && typeof init?.body === 'string' ? ` ${init.body}` : ''}`);
      const started = Date.now();
      const res = await fetch(input, init).catch((err: Error) => {
        trace(`< failed ${method} ${url}: ${err.message}`);
        throw err;
      });
      trace(`< ${res.status} ${method} ${url} (${Date.now() - started} ms)${debug ? ` ${(await res.clone().text()).slice(0, 2000)}` : ''}`);
      return res;
    };
  }

  /** Turns a typed error result of a mutation into a command failure. */
  protected failWith(result: ErrorResult & { requiredScope?: string | null; field?: string | null }): never {
    const suggestions: string[] = [];
    if (result.requiredScope) suggestions.push(`Use a token with the "${result.requiredScope}" scope.`);
    else if (result.errorType === 'token-insufficient') suggestions.push('A token can only create tokens with at most its own scopes, prefixes, apps and repos.');
    if (result.field) suggestions.push(`Check the value given for ${result.field}.`);
    this.error(result.message, { exit: result.errorType === 'token-insufficient' ? exitCodes.auth : exitCodes.failed, suggestions, code: result.errorType });
  }

  /** Runs the command, then writes flat-manager-client's output JSON for --print-output / --output. */
  protected override async _run<R>(): Promise<R> {
    let result: R | undefined;
    try {
      result = await super._run<R>();
      return result;
    } finally {
      await this.writeOutput(result);
    }
  }

  override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    this.#failure = err;
    return super.catch(this.explain(err));
  }

  override async finally(err: Error | undefined): Promise<unknown> {
    await this.#client?.close();
    for (const c of this.#restClients) c.close();
    return super.finally(err);
  }

  private async writeOutput(result: unknown): Promise<void> {
    if (!this.flags || (!this.flags['print-output'] && !this.flags.output)) return;
    const command = (this.id ?? '').replaceAll(':', ' ');
    const failure = this.#failure;
    let output: Record<string, unknown>;
    if (failure === undefined) output = { command, result: result ?? null };
    else if (failure instanceof FlatManagerError && failure.kind === 'job-failed') output = { command, error: { type: 'job', job: (failure as FlatManagerError & { followed?: FollowedJob }).followed?.job ?? null } };
    else if (failure instanceof FlatManagerError && failure.status > 0) {
      output = { command, error: { type: 'api', url: failure.url, status_code: failure.status, details: failure.details ?? { status: failure.status, 'error-type': 'no-error', message: failure.message } } };
    } else if (failure instanceof ConfigError || (failure instanceof FlatManagerError && failure.kind === 'bad-url')) output = { error: { type: 'usage', details: { message: failure.message } } };
    else {
      const e = failure as Error & { code?: string };
      output = { command, error: { type: 'exception', details: { 'error-type': e.code ?? e.name ?? 'Error', message: e.message ?? String(failure) } } };
    }
    const text = `${JSON.stringify(output, null, 4)}\n`;
    if (this.flags['print-output']) process.stdout.write(text);
    if (this.flags.output) {
      await writeFile(this.flags.output, text).catch((e: Error) => process.stderr.write(`fmdc: cannot write --output ${this.flags.output}: ${e.message}\n`));
    }
  }

  /** What went wrong, with its exit code and what to do about it. */
  private explain(err: Error & { exitCode?: number }): Error {
    if (err instanceof FmdRequestError) return this.explainGraphql(err);
    if (err instanceof ConfigError) return new Errors.CLIError(err.message, { exit: exitCodes.usage, code: 'usage', suggestions: err.suggestions });
    if (err instanceof FlatManagerError) return this.explainRest(err);
    return err;
  }

  /** A flat-manager REST failure: its kind decides the exit code. */
  private explainRest(err: FlatManagerError): Errors.CLIError {
    switch (err.kind) {
      case 'bad-url':
        return new Errors.CLIError(err.message, { exit: exitCodes.usage, code: 'usage' });
      case 'unreachable':
        return new Errors.CLIError(err.message, { exit: exitCodes.unreachable, code: 'unreachable', suggestions: ['Check the URL and that the server is running.'] });
      case 'auth':
        return new Errors.CLIError(err.message, {
          exit: exitCodes.auth,
          code: String(err.details?.['error-type'] ?? 'invalid-token'),
          suggestions: [err.status === 401 ? tokenHelp : 'Use a token with the scope, prefix and repo this needs; `fmdc whoami` shows what yours has.'],
        });
      case 'job-failed':
        return new Errors.CLIError(err.message, { exit: exitCodes.jobFailed, code: 'job-failed', suggestions: ['The job log above says why.'] });
      default: {
        const hint = err.kind === 'not-found' ? 'Check the URL: the server does not know it.' : err.transient ? 'The server failed; retry shortly, or check its log.' : `Check the request; the server answered HTTP ${err.status}.`;
        return new Errors.CLIError(err.message, { exit: exitCodes.failed, code: String(err.details?.['error-type'] ?? err.kind), suggestions: [hint] });
      }
    }
  }

  private explainGraphql(err: FmdRequestError): Errors.CLIError {
    const url = this.#server ? `now ${this.#server.url} from ${this.#server.from}` : 'not set';
    if (err.status === 0) {
      return new Errors.CLIError(err.message, {
        exit: exitCodes.unreachable,
        code: 'unreachable',
        suggestions: [`Check the server URL (--url, FMDC_URL or the profile; ${url}) and that the server is running.`],
      });
    }
    if (err.code === 'UNAUTHENTICATED' && this.#auth?.session && err.errors.some((e) => e.extensions?.reason === 'session-ended')) {
      return new Errors.CLIError(`your session with ${this.#server?.url} has ended (signed out, or it expired): ${err.message}`, {
        exit: exitCodes.auth,
        code: 'session-ended',
        suggestions: [`Sign in again: \`fmdc login --url ${this.#server?.url} --user ${this.#auth.session.user ?? '<name>'}\`.`],
      });
    }
    if (err.code === 'UNAUTHENTICATED') {
      const from = this.#auth ? ` (the token came from ${this.#auth.from === 'profile' ? `profile "${this.settings.profileName}"` : this.#auth.from})` : '';
      return new Errors.CLIError(`the server rejected the token${from}: ${err.message}`, { exit: exitCodes.auth, code: err.errorType ?? 'invalid-token', suggestions: [tokenHelp] });
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
