// A streaming multipart reader for flat-manager uploads. busboy only takes multipart/form-data
// parts with `Content-Disposition: form-data`; the Python flat-manager-client sends
// multipart/mixed with `Content-Disposition: attachment; filename=...` and no name, the Rust one
// form-data with `name="file<i>"`. This reader takes both and yields each part's file name
// and a body stream that pulls from the request as it is consumed (backpressure end to end).
import { InvalidInputError } from '../../domain/errors.ts';
import type { UploadPart } from '../../domain/builds/upload-store.ts';

const MAX_HEADER_BYTES = 16 * 1024;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The boundary of a multipart Content-Type (any subtype), or null. */
export function multipartBoundary(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\//i.test(contentType.trim())) return null;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const b = m?.[1] ?? m?.[2];
  return b && b.length <= 200 ? b : null;
}

/** The file name of a part from its Content-Disposition (attachment or form-data; quoted or not). No basename: a path is refused later. */
export function partFilename(disposition: string | undefined): string | null {
  if (!disposition) return null;
  const star = /;\s*filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(disposition);
  if (star) {
    try {
      return decodeURIComponent(star[1]!.trim());
    } catch {
      return null;
    }
  }
  const m = /;\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/i.exec(disposition);
  if (!m) return null;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!.trim();
}

/** Length of the longest end of `buf` that is a proper start of `delimiter` (0 if none). */
function delimiterStartAtEnd(buf: Buffer, delimiter: Buffer): number {
  const first = delimiter[0]!;
  for (let i = buf.indexOf(first, Math.max(0, buf.length - delimiter.length + 1)); i >= 0; i = buf.indexOf(first, i + 1)) {
    if (buf.compare(delimiter, 0, buf.length - i, i) === 0) return buf.length - i;
  }
  return 0;
}

class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private readonly source: AsyncIterator<Buffer>;
  constructor(source: AsyncIterable<Buffer>) {
    this.source = source[Symbol.asyncIterator]();
  }
  /** Reads one more chunk; false at the end of the stream. */
  async fill(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.source.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    return true;
  }
  get data(): Buffer {
    return this.buf;
  }
  consume(n: number): void {
    this.buf = this.buf.subarray(n);
  }
}

/**
 * Yields each part of a multipart body. Each part's `body` must be consumed (or abandoned by
 * stopping the iteration) before the next part is asked for.
 */
export async function* readMultipart(source: AsyncIterable<Buffer>, boundary: string): AsyncGenerator<UploadPart> {
  const r = new Reader(source);
  const first = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const truncated = () => new InvalidInputError('multipart body ended early', 'file');

  // Preamble: up to the first boundary line.
  for (;;) {
    const i = r.data.indexOf(first);
    if (i >= 0 && (i === 0 || r.data.subarray(i - 2, i).equals(CRLF))) {
      r.consume(i + first.length);
      break;
    }
    if (r.data.length > MAX_HEADER_BYTES) throw new InvalidInputError('no multipart boundary found', 'file');
    if (!(await r.fill())) throw truncated();
  }

  for (;;) {
    // After a delimiter: "--" ends the body, otherwise optional padding and CRLF, then headers.
    while (r.data.length < 2) if (!(await r.fill())) throw truncated();
    if (r.data[0] === 0x2d && r.data[1] === 0x2d) return;
    let end: number;
    while ((end = r.data.indexOf(HEADER_END)) < 0) {
      if (r.data.length > MAX_HEADER_BYTES) throw new InvalidInputError('multipart part headers too large', 'file');
      if (!(await r.fill())) throw truncated();
    }
    const headerText = r.data.subarray(0, end).toString('latin1');
    r.consume(end + HEADER_END.length);
    const headers = new Map<string, string>();
    for (const line of headerText.split('\r\n')) {
      const c = line.indexOf(':');
      if (c > 0) headers.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
    }
    const filename = partFilename(headers.get('content-disposition'));
    if (filename === null) throw new InvalidInputError('a multipart part has no filename', 'file');

    let finished = false;
    async function* body(): AsyncGenerator<Buffer> {
      for (;;) {
        const i = r.data.indexOf(delimiter);
        if (i >= 0) {
          if (i > 0) yield r.data.subarray(0, i);
          r.consume(i + delimiter.length);
          finished = true;
          return;
        }
        // Keep what could be the start of a delimiter; hand out the rest. Usually nothing is
        // kept, so the next read is used as it comes, not copied behind a leftover tail.
        const safe = r.data.length - delimiterStartAtEnd(r.data, delimiter);
        if (safe > 0) {
          const out = r.data.subarray(0, safe);
          r.consume(safe);
          yield out;
        }
        if (!(await r.fill())) throw truncated();
      }
    }
    yield { filename, body: body() };
    if (!finished) throw new InvalidInputError('a multipart part was not read to its end', 'file');
  }
}
