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

/** Below this size JSON.parse is quick enough. */
const SMALL = 256 * 1024;
const START = /\s*\{\s*"wanted"\s*:\s*\[\s*/y;
const NAME = /"([0-9a-f]{64}\.(?:commit|dirtree|dirmeta|filez))"\s*(,|\])\s*/y;

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

/** The `wanted` value of a missing_objects body (not yet checked: the domain validates the names). */
export async function parseWanted(text: string | undefined): Promise<unknown> {
  if (text === undefined || text.trim() === '') return undefined;
  if (text.length < SMALL) return wantedOf(parseJson(text));
  START.lastIndex = 0;
  if (!START.test(text)) return wantedOf(parseJson(text));
  const names: string[] = [];
  const yielder = new Yielder();
  let pos = START.lastIndex;
  let closed = text[pos] === ']';
  if (closed) pos = skipSpace(text, pos + 1);
  while (!closed) {
    NAME.lastIndex = pos;
    const m = NAME.exec(text);
    if (!m) {
      if (text[pos] === '"') throw new InvalidInputError(`invalid object name ${text.slice(pos, pos + 80)}`, 'wanted');
      return wantedOf(parseJson(text));
    }
    names.push(m[1]!);
    if (names.length > MAX_WANTED_OBJECTS) throw new InvalidInputError(`at most ${MAX_WANTED_OBJECTS} object names per request`, 'wanted');
    pos = NAME.lastIndex;
    closed = m[2] === ']';
    if ((names.length & 1023) === 0) await yielder.maybe();
  }
  // What follows the array: the end of the object, or more keys (ignored, as JSON.parse would keep only "wanted" once).
  const rest = text.slice(pos);
  if (/^\}\s*$/.test(rest)) return names;
  if (rest.startsWith(',')) {
    const others = parseJson(`{${rest.slice(1)}`);
    if (typeof others === 'object' && others !== null && !('wanted' in others)) return names;
  }
  return wantedOf(parseJson(text));
}

function skipSpace(text: string, pos: number): number {
  while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  return pos;
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
