// Pushes commits from a local archive repo to fmd over plain HTTP exactly as flat-manager's
// Python flat-manager-client (`push`) does, in its order: the metadata objects of all refs at
// once, then the file objects of the dirtrees the server lacks only, uploads of file objects
// first and metadata after (multipart/mixed, one `attachment` part per object with its own
// Content-Length, ~4 MiB per request), then the from-scratch static deltas of the pushed
// app/runtime refs found in the local repo (`<name>.<part>.delta`), then build_ref. Jobs are
// followed with a `log-offset` body counted as the client counts what it printed: characters
// (Python's len) for the Python client, UTF-8 bytes (String::len) for flat-manager's Rust
// flat-manager-client, whose job poller the 'rust' style follows; that style uploads form-data
// `name="file<i>"` parts, as Rust multipart clients do (the Rust flat-manager-client's own push
// is not implemented). Objects are found by walking the commits' trees in the repo, as
// libostree's RepoCommitTraverseIter does for the real client.
import http from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { deltasToUpload, localNeededFiles, localNeededMetadata, objectPath } from '@fmd/sdk/ostree';
import { FlatManagerRestClient } from '@fmd/sdk/push';

export const UPLOAD_CHUNK_LIMIT = 4 * 1024 * 1024;
const crlf = Buffer.from('\r\n');
// The requests themselves go through the SDK's REST client (keep-alive, bodies on any method,
// JSON parsed when it is JSON); what this client sends is decided here.
const rest = new FlatManagerRestClient({ token: '', maxSockets: 8 });

export type HttpResult = { status: number; headers: http.IncomingHttpHeaders; body: any; text: string };

/** One HTTP request with an optional body on any method (fetch refuses bodies on GET). */
export function request(method: string, url: string, o: { token?: string; json?: unknown; gzip?: boolean; body?: Buffer | (() => AsyncIterable<Buffer>); headers?: Record<string, string>; length?: number } = {}): Promise<HttpResult> {
  const { body, ...options } = o;
  if (typeof body !== 'function') return rest.request(method, url, { ...options, body });
  return rest.request(method, url, {
    ...options,
    async write(req) {
      for await (const c of body()) if (!req.write(c)) await once(req, 'drain');
    },
  });
}

// The object walk (libostree's RepoCommitTraverseIter for the real client) and the static
// delta names live in the SDK (`@fmd/sdk/ostree`), shared with `fmdc push`.
export { commitObjects, deltaNameEncode } from '@fmd/sdk/ostree';

// --- the client ---------------------------------------------------------------------------------

export type UploadStyle = 'python' | 'rust';

/** A file to upload: its part's filename and where it is on disk. */
export type UploadFile = { name: string; path: string };

/** How a client counts what it printed of a job log, which is the log-offset it sends next. */
const printedLength: Record<UploadStyle, (s: string) => number> = {
  python: (s) => {
    // Python's len: code points (a surrogate pair in JS is one character there).
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0xdc00 || c > 0xdfff) n++;
    }
    return n;
  },
  rust: (s) => Buffer.byteLength(s, 'utf8'),
};

export class FlatManagerClient {
  readonly api: string;
  token: string;
  style: UploadStyle;
  /** request counts, for tests that check chunking and what a push sent */
  stats = { missingRequests: 0, uploadRequests: 0, uploadedBytes: 0, uploadedObjects: 0, uploadedDeltaParts: 0 };
  log: (line: string) => void;

  constructor(baseUrl: string, token: string, o: { style?: UploadStyle; log?: (line: string) => void } = {}) {
    this.api = `${baseUrl}/api/v1`;
    this.token = token;
    this.style = o.style ?? 'python';
    this.log = o.log ?? (() => undefined);
  }

  private check(r: HttpResult, what: string): HttpResult {
    if (r.status !== 200) throw Object.assign(new Error(`${what} failed with status ${r.status}: ${r.text}`), { response: r });
    return r;
  }

  async createBuild(repo: string, appId?: string, extra: Record<string, unknown> = {}): Promise<{ id: number; url: string; build: any }> {
    const r = this.check(await request('POST', `${this.api}/build`, { token: this.token, json: { repo, ...(appId ? { 'app-id': appId } : {}), ...extra } }), 'create build');
    return { id: r.body.id, url: String(r.headers.location), build: r.body };
  }

  async missingObjects(buildUrl: string, wanted: string[]): Promise<string[]> {
    const missing: string[] = [];
    for (let i = 0; i < wanted.length; i += 2000) {
      this.stats.missingRequests++;
      const r = this.check(await request('GET', `${buildUrl}/missing_objects`, { token: this.token, json: { wanted: wanted.slice(i, i + 2000) }, gzip: true }), 'missing_objects');
      missing.push(...r.body.missing);
    }
    return missing;
  }

  /**
   * One multipart request with these files (name = the part's filename). The Python client's
   * aiohttp writes each part as Content-Type, Content-Disposition, Content-Length.
   */
  async uploadFiles(buildUrl: string, files: UploadFile[]): Promise<HttpResult> {
    const boundary = `fmd${randomBytes(12).toString('hex')}`;
    const sizes = await Promise.all(files.map((f) => stat(f.path).then((s) => s.size)));
    const heads = files.map((f, i) =>
      Buffer.from(
        `--${boundary}\r\n` +
          (this.style === 'python'
            ? `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${f.name}"\r\nContent-Length: ${sizes[i]}\r\n\r\n`
            : `Content-Disposition: form-data; name="file${i}"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      ),
    );
    const tail = Buffer.from(`--${boundary}--\r\n`);
    const length = heads.reduce((n, h, i) => n + h.length + sizes[i]! + 2, 0) + tail.length;
    this.stats.uploadRequests++;
    this.stats.uploadedObjects += files.filter((f) => !f.name.endsWith('.delta')).length;
    this.stats.uploadedDeltaParts += files.filter((f) => f.name.endsWith('.delta')).length;
    this.stats.uploadedBytes += sizes.reduce((a, b) => a + b, 0);
    return request('POST', `${buildUrl}/upload`, {
      token: this.token,
      headers: { 'content-type': `multipart/${this.style === 'python' ? 'mixed' : 'form-data'}; boundary=${boundary}` },
      length,
      body: async function* () {
        // Read the batch's files concurrently (as a client reading from its own disk would):
        // one awaited read per object serializes the whole push on file-system latency.
        const contents = await Promise.all(files.map((f) => readFile(f.path)));
        for (const [i, content] of contents.entries()) {
          yield Buffer.concat([heads[i]!, content, crlf]);
        }
        yield tail;
      },
    });
  }

  /** flat-manager-client's upload_objects: requests of at most ~4 MiB, an object larger than that alone. */
  async uploadObjects(buildUrl: string, repo: string, names: string[]): Promise<void> {
    const upload = async (files: UploadFile[]) => {
      if (files.length) this.check(await this.uploadFiles(buildUrl, files), 'upload');
    };
    let req: UploadFile[] = [];
    let total = 0;
    for (const name of names) {
      const named = { name, path: objectPath(repo, name) };
      const size = (await stat(named.path)).size;
      if (total + size > UPLOAD_CHUNK_LIMIT) {
        let next: UploadFile[];
        if (req.length > 0) {
          next = [named];
          total = size;
        } else {
          next = [];
          req.push(named);
          total = 0;
        }
        await upload(req);
        req = next;
      } else {
        total += size;
        req.push(named);
      }
    }
    await upload(req);
  }

  /**
   * flat-manager-client's upload_deltas: for each pushed app/runtime ref (not matching an
   * `ignoreDelta` glob), the from-scratch delta to its commit if the local repo has one, every
   * file of it as `<name>.<part>.delta`, all in one request. Answers the part names sent.
   */
  async uploadDeltas(buildUrl: string, repo: string, refs: Record<string, string>, ignoreDelta: readonly string[] = []): Promise<string[]> {
    const req: UploadFile[] = await deltasToUpload(repo, refs, ignoreDelta);
    if (req.length) this.check(await this.uploadFiles(buildUrl, req), 'upload deltas');
    return req.map((f) => f.name);
  }

  async createRef(buildUrl: string, ref: string, commit: string): Promise<HttpResult> {
    return this.check(await request('POST', `${buildUrl}/build_ref`, { token: this.token, json: { ref, commit } }), 'build_ref');
  }

  /** flat-manager-client push (without --commit/--publish), step by step in its order. */
  async push(buildUrl: string, repo: string, refs: Record<string, string>, o: { ignoreDelta?: string[] } = {}): Promise<{ deltaParts: string[] }> {
    const metadata = await localNeededMetadata(repo, Object.values(refs));
    const missingMetadata = await this.missingObjects(buildUrl, metadata);
    const files = await localNeededFiles(repo, missingMetadata);
    const missingFiles = await this.missingObjects(buildUrl, files);
    this.log(`uploading ${missingFiles.length} file objects`);
    await this.uploadObjects(buildUrl, repo, missingFiles);
    this.log(`uploading ${missingMetadata.length} metadata objects`);
    await this.uploadObjects(buildUrl, repo, missingMetadata);
    const deltaParts = await this.uploadDeltas(buildUrl, repo, refs, o.ignoreDelta);
    for (const [ref, commit] of Object.entries(refs)) await this.createRef(buildUrl, ref, commit);
    return { deltaParts };
  }

  /** POST commit|publish; answers the job and its URL (the Location header). */
  async startJob(buildUrl: string, what: 'commit' | 'publish', json: Record<string, unknown> = {}): Promise<{ job: any; url: string; response: HttpResult }> {
    const r = await request('POST', `${buildUrl}/${what}`, { token: this.token, json });
    return { job: r.body, url: String(r.headers.location ?? ''), response: r };
  }

  /** wait_for_job: polls with {"log-offset": what it printed so far} until the job is over; returns it with the whole log. */
  async waitForJob(jobUrl: string, timeoutMs = 300_000, pollMs = 100, printed: (text: string) => void = () => undefined): Promise<{ job: any; log: string; polls: number }> {
    let log = '';
    let polls = 0;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      polls++;
      const r = this.check(await request('GET', jobUrl, { token: this.token, json: { 'log-offset': printedLength[this.style](log) } }), 'job');
      log += r.body.log;
      if (r.body.log) printed(r.body.log);
      if (r.body.status > 1) return { job: r.body, log, polls };
      if (Date.now() > deadline) throw new Error(`job ${jobUrl} did not finish: ${JSON.stringify(r.body)}`);
      await new Promise((res) => setTimeout(res, pollMs));
    }
  }
}
