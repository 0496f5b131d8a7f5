import { closeSync, openSync, writeSync } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Flags } from '@oclif/core';
import { isErrorResult, type BundleFieldsFragment } from '@fmd/sdk';
import { exitCodes } from '../../base-command.ts';
import { FollowCommand, followExitHelp } from '../../follow-command.ts';
import { numberArg } from '../../numbers.ts';

/** Download attempts: a download cut off resumes where it stopped (Range) this many times. */
const ATTEMPTS = 5;

export default class BuildBundle extends FollowCommand<typeof BuildBundle> {
  static override summary = 'Download a committed build as a single-file .flatpak bundle (made once on the server, by a bundle job).';
  static override description = `Asks the server for the bundle of one of the build's refs (its app ref unless --ref), follows the bundle job while it is made, then downloads it to <app-id>.flatpak (or -o); a download that is cut off resumes where it stopped. Install it with \`flatpak install --bundle <file>\`. ${followExitHelp}`;

  static override examples = ['<%= config.bin %> build bundle 42', '<%= config.bin %> build bundle 42 --ref runtime/org.example.Platform/x86_64/1 -o platform.flatpak'];

  static override args = {
    number: numberArg('build number'),
  };

  static override flags = {
    ref: Flags.string({ description: "the ref to bundle (default: the build's app ref)" }),
    file: Flags.string({ char: 'o', description: 'where to write it (default: <app-id>.flatpak in the current directory)' }),
  };

  async run() {
    const { number } = this.args;
    const client = this.client();
    const { requestBundle: result } = await client.requestBundle({ input: { build: number, ...(this.flags.ref ? { ref: this.flags.ref } : {}) } });
    if (isErrorResult(result)) this.failWith(result);
    let bundle: BundleFieldsFragment = result.bundle;
    if (bundle.state !== 'READY') {
      this.logToStderr(`making bundle ${bundle.number} of ${bundle.ref}${result.job ? `: bundle job ${result.job.number}` : ''}`);
      // The job's log when the token may read it; else the bundle's state until it is made.
      if (result.job) await this.followJobLive(result.job.number);
      bundle = await this.waitReady(result.job ? await this.reread(bundle.number) : bundle);
    }
    const file = this.flags.file ?? bundle.fileName;
    const size = await this.download(new URL(bundle.url!, this.serverUrl()).toString(), file);
    this.logToStderr(`wrote ${file} (${size} bytes); install it with \`flatpak install --bundle ${file}\``);
    return { bundle, file, size };
  }

  private async waitReady(start: BundleFieldsFragment): Promise<BundleFieldsFragment> {
    let b = start;
    let last = '';
    for (;;) {
      if (b.state !== last) this.logToStderr(`bundle ${b.number}: ${b.state.toLowerCase()}`);
      last = b.state;
      if (b.state === 'READY') return b;
      if (b.state === 'FAILED') this.error(`bundle ${b.number} failed: ${b.error ?? 'no reason given'}`, { exit: exitCodes.jobFailed, code: 'failed' });
      await new Promise((r) => setTimeout(r, 1000));
      b = await this.reread(b.number);
    }
  }

  private async reread(number: number): Promise<BundleFieldsFragment> {
    const { bundle } = await this.client().bundle({ number });
    if (!bundle) this.error(`bundle ${number} is gone`, { exit: exitCodes.failed, code: 'not-found' });
    return bundle;
  }

  /** GETs url into file (through file.part), resuming a cut-off download with Range and If-Range. */
  private async download(url: string, file: string): Promise<number> {
    const part = `${file}.part`;
    let etag: string | null = null;
    for (let attempt = 1; ; attempt++) {
      const have = (await stat(part).catch(() => null))?.size ?? 0;
      const headers: Record<string, string> = { authorization: `Bearer ${this.apiToken()}` };
      if (have > 0 && etag) Object.assign(headers, { range: `bytes=${have}-`, 'if-range': etag });
      try {
        const r = await getInto(url, headers, part, have > 0 && etag !== null);
        if (r.status !== 200 && r.status !== 206) this.error(`downloading ${url}: HTTP ${r.status} ${r.text.slice(0, 300)}`, { exit: exitCodes.failed, code: 'download-failed' });
        etag = r.etag;
        if (r.status === 206) this.logToStderr(`resumed at byte ${have}`);
        if (r.error) throw r.error;
        const size = (await stat(part)).size;
        if (r.total !== null && size !== r.total) throw new Error(`got ${size} of ${r.total} bytes`);
        await rename(part, file);
        return size;
      } catch (err) {
        if (attempt >= ATTEMPTS || (err as { oclif?: unknown }).oclif) throw err;
        const got = (await stat(part).catch(() => null))?.size ?? 0;
        this.logToStderr(`download cut off after ${got} bytes (${(err as Error).message}); resuming (attempt ${attempt + 1} of ${ATTEMPTS})`);
      }
    }
  }
}

/**
 * One GET, its body written to `part` as it comes (appended for a 206 when `resume`): each chunk
 * is on disk before the next one is read, so what arrived before a cut is kept. A cut is answered
 * in `error`, not thrown.
 */
function getInto(url: string, headers: Record<string, string>, part: string, resume: boolean): Promise<{ status: number; etag: string | null; total: number | null; text: string; error: Error | null }> {
  const get = url.startsWith('https:') ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(url, { headers }, (res) => {
      const status = res.statusCode ?? 0;
      const etag = typeof res.headers.etag === 'string' ? res.headers.etag : null;
      if (status !== 200 && status !== 206) {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status, etag, total: null, text, error: null }));
        res.on('error', () => resolve({ status, etag, total: null, text, error: null }));
        return;
      }
      const range = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
      const total = range ? Number(range[1]) : res.headers['content-length'] ? Number(res.headers['content-length']) : null;
      const fd = openSync(part, status === 206 && resume ? 'a' : 'w');
      let done = false;
      const finish = (error: Error | null) => {
        if (done) return;
        done = true;
        closeSync(fd);
        resolve({ status, etag, total, text: '', error });
      };
      res.on('data', (chunk: Buffer) => writeSync(fd, chunk));
      res.on('end', () => finish(res.complete ? null : new Error('the connection closed early')));
      res.on('aborted', () => finish(new Error('the connection closed early')));
      res.on('error', (err) => finish(err));
      res.on('close', () => finish(res.complete ? null : new Error('the connection closed early')));
    });
    req.on('error', reject);
  });
}
