// missing_objects bodies: `{"wanted": ["<sha256>.<type>", ...]}`, up to a million names. One
// JSON.parse of such a body (tens of MB) holds the event loop for hundreds of milliseconds, so
// a body of the usual shape is read name by name, yielding between slices; any other shape
// falls back to JSON.parse. The answer is written the same way.
import type { Response } from 'express';
import { InvalidInputError } from '../../domain/errors.ts';
import { Yielder } from '../../domain/yielder.ts';
import { MAX_WANTED_OBJECTS } from '../../domain/builds/upload-store.ts';

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

/** Writes `{"missing": [...]}` in slices. The names were checked against the object-name pattern, so they need no escaping. */
export async function sendMissing(res: Response, missing: readonly string[]): Promise<void> {
  res.status(200).type('application/json');
  if (missing.length < 20_000) {
    res.json({ missing });
    return;
  }
  const yielder = new Yielder();
  res.write('{"missing":[');
  for (let i = 0; i < missing.length; i += 20_000) {
    const slice = missing.slice(i, i + 20_000);
    res.write(`${i > 0 ? ',' : ''}"${slice.join('","')}"`);
    await yielder.maybe();
  }
  res.end(']}');
}
