// flat-manager's missing_objects on its wire form: a JSON body `{"wanted": ["<sha256>.<type>",
// ...]}` of up to a million names in, `{"missing": [...]}` out. A request that large makes
// hundreds of MB of short-lived strings, and the garbage collector's pauses for them (100-200
// ms each, measured) would stall every other request; so a large body is answered by a worker
// thread with its own heap, and only bytes cross over. Small bodies (flat-manager-client sends
// 2000 names at a time) are answered in place. Either way the body is parsed a slice at a time
// and lookups yield, so neither thread holds its event loop for long.
import { Worker } from 'node:worker_threads';
import { InvalidInputError } from '../errors.ts';
import { Yielder } from '../yielder.ts';
import { MAX_WANTED_OBJECTS, missingObjects } from './upload-store.ts';

/** missing_objects bodies up to this size, decoded (a million names take about 72 MB). */
export const MISSING_OBJECTS_BODY_LIMIT = 96 * 1024 * 1024;

/** JSON.parse takes a slice of this size in a few milliseconds. */
const SLICE = 1024 * 1024;
const START = /^\s*\{\s*"wanted"\s*:\s*\[/;
const END = /\]\s*\}\s*$/;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

function wantedOf(body: unknown): unknown {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw new InvalidInputError('the request body must be a JSON object');
  return (body as { wanted?: unknown }).wanted;
}

/**
 * The `wanted` value of a missing_objects body (not yet checked: the domain validates the
 * names). A large body of the usual shape, `{"wanted": [...]}`, is parsed a slice of the array
 * at a time, cut at commas: a cut inside a string or a nested value leaves a slice that is not
 * valid JSON, and then the whole body is parsed at once instead, so the result is always what
 * JSON.parse gives. The body stays in a Buffer (outside the JavaScript heap): a string of tens
 * of MB would cost the garbage collector more than the parse.
 */
export async function parseWanted(body: Buffer | undefined): Promise<unknown> {
  if (body === undefined) return undefined;
  if (body.length <= SLICE) {
    const text = body.toString('utf8');
    return text.trim() === '' ? undefined : wantedOf(parseJson(text));
  }
  const head = START.exec(body.toString('utf8', 0, 64));
  const tailFrom = Math.max(0, body.length - 256);
  const tail = head ? END.exec(body.toString('latin1', tailFrom)) : null;
  const endIndex = tail ? tailFrom + tail.index : -1;
  if (!head || endIndex < head[0].length) return wantedOf(parseJson(body.toString('utf8')));
  const yielder = new Yielder();
  const names: unknown[] = [];
  let pos = head[0].length;
  while (pos < endIndex) {
    let cut = body.indexOf(0x2c, pos + SLICE);
    if (cut < 0 || cut > endIndex) cut = endIndex;
    let slice: unknown;
    try {
      slice = JSON.parse(`[${body.toString('utf8', pos, cut)}]`);
    } catch {
      return wantedOf(parseJson(body.toString('utf8')));
    }
    for (const name of slice as unknown[]) names.push(name);
    if (names.length > MAX_WANTED_OBJECTS) throw new InvalidInputError(`at most ${MAX_WANTED_OBJECTS} object names per request`, 'wanted');
    pos = cut + 1;
    await yielder.maybe();
  }
  return names;
}

/** `{"missing": [...]}` as bytes. The names were checked against the object-name pattern, so they need no escaping. */
async function answerJson(missing: readonly string[]): Promise<Buffer> {
  if (missing.length === 0) return Buffer.from('{"missing":[]}');
  const yielder = new Yielder();
  const parts: string[] = [];
  for (let i = 0; i < missing.length; i += 20_000) {
    parts.push(`"${missing.slice(i, i + 20_000).join('","')}"`);
    await yielder.maybe();
  }
  const size = parts.reduce((n, p) => n + p.length + 1, 13);
  // A buffer of its own (not from the shared pool), so that it can be handed to the other thread.
  const out = Buffer.from(new ArrayBuffer(size));
  let at = out.write('{"missing":[');
  for (let i = 0; i < parts.length; i++) at += out.write(i > 0 ? `,${parts[i]}` : parts[i]!, at, 'latin1');
  at += out.write(']}', at);
  return out.subarray(0, at);
}

export type MissingObjectsRepos = { upload: string; parent: string | null };

/** Answers one missing_objects body in this thread. */
export async function answerMissingObjects(body: Buffer | undefined, repos: MissingObjectsRepos): Promise<Buffer> {
  const wanted = await parseWanted(body);
  if (!Array.isArray(wanted)) throw new InvalidInputError('"wanted" must be an array of object names', 'wanted');
  if (wanted.length > MAX_WANTED_OBJECTS) throw new InvalidInputError(`at most ${MAX_WANTED_OBJECTS} object names per request`, 'wanted');
  return answerJson(await missingObjects(repos.upload, repos.parent, wanted as string[]));
}

/** Bodies larger than this go to the worker thread. */
const IN_PLACE_BELOW = 1024 * 1024;

type Reply = { id: number; answer?: Uint8Array; error?: { invalidInput: boolean; message: string; field?: string } };

/** Answers missing_objects bodies: small ones here, large ones in one worker thread started on first use. */
export class MissingObjectsAnswerer {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();

  /** A large body is handed to the worker: when it fills a buffer of its own, that buffer is detached here (unusable afterwards). */
  async answer(body: Buffer | undefined, repos: MissingObjectsRepos): Promise<Buffer> {
    if (!body || body.length < IN_PLACE_BELOW) return answerMissingObjects(body, repos);
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.ref();
      // A body in a buffer of its own is handed over, not copied.
      const own = body.byteOffset === 0 && body.buffer.byteLength === body.length && body.buffer instanceof ArrayBuffer;
      worker.postMessage({ id, body, repos }, own ? [body.buffer as ArrayBuffer] : []);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./missing-objects.worker.ts', import.meta.url));
    worker.on('message', (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref();
      if (reply.answer) w.resolve(Buffer.from(reply.answer.buffer, reply.answer.byteOffset, reply.answer.byteLength));
      else if (reply.error?.invalidInput) w.reject(new InvalidInputError(reply.error.message, reply.error.field));
      else w.reject(new Error(`missing_objects worker: ${reply.error?.message ?? 'no answer'}`));
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`missing_objects worker exited with ${code}`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }
}
