// Pushes commits from a local archive repo to fmd over plain HTTP exactly as flat-manager-client
// does: create build (Location = build URL), missing_objects with gzip JSON bodies on GET in
// chunks of 2000, multipart uploads of ~4 MiB (Python's multipart/mixed + attachment parts, or
// the Rust client's form-data `name="file<i>"` parts), build_ref, commit, job polling with a
// `log-offset` body, publish. Objects are found by walking the commits' trees in the repo.
import http from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parse, type GValue } from '../../src/ostree/gvariant.ts';

export const UPLOAD_CHUNK_LIMIT = 4 * 1024 * 1024;
const crlf = Buffer.from('\r\n');
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

export type HttpResult = { status: number; headers: http.IncomingHttpHeaders; body: any; text: string };

/** One HTTP request with an optional body on any method (fetch refuses bodies on GET). */
export function request(method: string, url: string, o: { token?: string; json?: unknown; gzip?: boolean; body?: Buffer | (() => AsyncIterable<Buffer>); headers?: Record<string, string>; length?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let payload: Buffer | undefined = o.body instanceof Buffer ? o.body : undefined;
    if (o.json !== undefined) {
      payload = Buffer.from(JSON.stringify(o.json));
      headers['content-type'] = 'application/json';
      if (o.gzip) {
        payload = gzipSync(payload);
        headers['content-encoding'] = 'gzip';
      }
    }
    if (payload) headers['content-length'] = String(payload.length);
    else if (o.length !== undefined) headers['content-length'] = String(o.length);
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = null;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (typeof o.body === 'function') {
      const src = o.body();
      (async () => {
        for await (const c of src) if (!req.write(c)) await new Promise((r) => req.once('drain', r));
        req.end();
      })().catch((e) => req.destroy(e));
    } else {
      req.end(payload);
    }
  });
}

// --- objects of a commit ------------------------------------------------------------------------

const hex = (b: GValue) => Buffer.from(b as Uint8Array).toString('hex');
const objPath = (repo: string, name: string) => path.join(repo, 'objects', name.slice(0, 2), name.slice(2));

/** Every object a commit needs (flat-manager-client's local_needed_metadata + local_needed_files). */
export async function commitObjects(repo: string, commit: string): Promise<{ metadata: string[]; files: string[] }> {
  const metadata = new Set<string>([`${commit}.commit`]);
  const files = new Set<string>();
  const [, , , , , , rootTree, rootMeta] = parse('(a{sv}aya(say)sstayay)', await readFile(objPath(repo, `${commit}.commit`))) as GValue[];
  const walk = async (tree: string, meta: string): Promise<void> => {
    metadata.add(`${meta}.dirmeta`);
    if (metadata.has(`${tree}.dirtree`)) return;
    metadata.add(`${tree}.dirtree`);
    const [fileList, dirList] = parse('(a(say)a(sayay))', await readFile(objPath(repo, `${tree}.dirtree`))) as [GValue[][], GValue[][]];
    for (const [, csum] of fileList) files.add(`${hex(csum!)}.filez`);
    for (const [, t, m] of dirList) await walk(hex(t!), hex(m!));
  };
  await walk(hex(rootTree!), hex(rootMeta!));
  return { metadata: [...metadata], files: [...files] };
}

// --- the client ---------------------------------------------------------------------------------

export type UploadStyle = 'python' | 'rust';

export class FlatManagerClient {
  readonly api: string;
  token: string;
  style: UploadStyle;
  /** request counts, for tests that check chunking */
  stats = { missingRequests: 0, uploadRequests: 0, uploadedBytes: 0, uploadedObjects: 0 };
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

  /** One multipart request with these files (name = the part's filename). */
  async uploadFiles(buildUrl: string, files: Array<{ name: string; path: string }>): Promise<HttpResult> {
    const boundary = `fmd${randomBytes(12).toString('hex')}`;
    const heads = files.map((f, i) =>
      Buffer.from(
        `--${boundary}\r\n` +
          (this.style === 'python'
            ? `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${f.name}"\r\n\r\n`
            : `Content-Disposition: form-data; name="file${i}"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      ),
    );
    const sizes = await Promise.all(files.map((f) => stat(f.path).then((s) => s.size)));
    const tail = Buffer.from(`--${boundary}--\r\n`);
    const length = heads.reduce((n, h, i) => n + h.length + sizes[i]! + 2, 0) + tail.length;
    this.stats.uploadRequests++;
    this.stats.uploadedObjects += files.length;
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

  /** Uploads objects in requests of at most ~4 MiB, like flat-manager-client's upload_objects. */
  async uploadObjects(buildUrl: string, repo: string, names: string[]): Promise<void> {
    let batch: Array<{ name: string; path: string }> = [];
    let size = 0;
    const flush = async () => {
      if (batch.length) this.check(await this.uploadFiles(buildUrl, batch), 'upload');
      batch = [];
      size = 0;
    };
    for (const name of names) {
      const p = objPath(repo, name);
      const s = (await stat(p)).size;
      if (size + s > UPLOAD_CHUNK_LIMIT && batch.length) await flush();
      batch.push({ name, path: p });
      size += s;
    }
    await flush();
  }

  async createRef(buildUrl: string, ref: string, commit: string): Promise<HttpResult> {
    return this.check(await request('POST', `${buildUrl}/build_ref`, { token: this.token, json: { ref, commit } }), 'build_ref');
  }

  /** flat-manager-client push: missing metadata, upload, missing files, upload, refs. */
  async push(buildUrl: string, repo: string, refs: Record<string, string>): Promise<void> {
    for (const commit of new Set(Object.values(refs))) {
      const { metadata, files } = await commitObjects(repo, commit);
      const missingMeta = await this.missingObjects(buildUrl, metadata);
      this.log(`uploading ${missingMeta.length} metadata objects`);
      await this.uploadObjects(buildUrl, repo, missingMeta);
      const missingFiles = await this.missingObjects(buildUrl, files);
      this.log(`uploading ${missingFiles.length} files`);
      await this.uploadObjects(buildUrl, repo, missingFiles);
    }
    for (const [ref, commit] of Object.entries(refs)) await this.createRef(buildUrl, ref, commit);
  }

  /** POST commit|publish; answers the job and its URL (the Location header). */
  async startJob(buildUrl: string, what: 'commit' | 'publish', json: Record<string, unknown> = {}): Promise<{ job: any; url: string; response: HttpResult }> {
    const r = await request('POST', `${buildUrl}/${what}`, { token: this.token, json });
    return { job: r.body, url: String(r.headers.location ?? ''), response: r };
  }

  /** wait_for_job: polls with {"log-offset": printed} until the job is over; returns it with the whole log. */
  async waitForJob(jobUrl: string, timeoutMs = 300_000, pollMs = 100): Promise<{ job: any; log: string; polls: number }> {
    let log = '';
    let polls = 0;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      polls++;
      const r = this.check(await request('GET', jobUrl, { token: this.token, json: { 'log-offset': Buffer.byteLength(log) } }), 'job');
      log += r.body.log;
      if (r.body.status > 1) return { job: r.body, log, polls };
      if (Date.now() > deadline) throw new Error(`job ${jobUrl} did not finish: ${JSON.stringify(r.body)}`);
      await new Promise((res) => setTimeout(res, pollMs));
    }
  }
}
