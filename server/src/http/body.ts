// Request bodies are read only by the handler that needs them, after it has authenticated the
// request, and each route says how much it takes. body-parser decodes Content-Encoding
// (gzip, deflate, br, zstd) and applies the limit to the decoded bytes.
import express, { type Request, type RequestHandler, type Response } from 'express';
import { bodyLimitKey } from './errors.ts';

/** JSON bodies of ordinary routes. */
export const JSON_BODY_LIMIT = 1024 * 1024;

const parsers = new Map<string, RequestHandler>();

function parserFor(kind: 'json' | 'raw', limit: number): RequestHandler {
  const key = `${kind}:${limit}`;
  let parser = parsers.get(key);
  if (!parser) {
    // Any content type on any method: flat-manager clients send JSON bodies on GETs, some without a type.
    parser = kind === 'json' ? express.json({ limit, type: () => true, strict: false, reviver: wellFormed }) : express.raw({ limit, type: () => true });
    parsers.set(key, parser);
  }
  return parser;
}

/**
 * JSON may escape half of a surrogate pair ("\ud800"), which no UTF-8 column, JSON column or
 * file name can hold: such a body is refused as invalid JSON (400) before any handler sees it,
 * instead of failing at the database.
 */
function wellFormed(key: string, value: unknown): unknown {
  if ((typeof value === 'string' && !value.isWellFormed()) || !key.isWellFormed()) throw new SyntaxError('a string holds a lone UTF-16 surrogate');
  return value;
}

function read(kind: 'json' | 'raw', req: Request, res: Response, limit: number): Promise<unknown> {
  res.locals[bodyLimitKey] = limit;
  const parser = parserFor(kind, limit);
  return new Promise((resolve, reject) => {
    void parser(req, res, (err?: unknown) => (err ? reject(err) : resolve(req.body)));
  });
}

/** The parsed JSON body, or undefined when the request has none. */
export function readJson(req: Request, res: Response, limit = JSON_BODY_LIMIT): Promise<unknown> {
  return read('json', req, res, limit);
}

/** The decoded body as bytes (for bodies too large to parse in one go), or undefined. */
export async function readBytes(req: Request, res: Response, limit: number): Promise<Buffer | undefined> {
  const body = await read('raw', req, res, limit);
  return Buffer.isBuffer(body) && body.length > 0 ? body : undefined;
}

/** A middleware for routes whose body anyone may send (GraphQL: public fields answer without a token). */
export function jsonBody(limit: number): RequestHandler {
  return (req, res, next) => {
    read('json', req, res, limit).then(() => next(), next);
  };
}
