// Push events of git forges, as their webhooks send them: which forge sent a request, whether it
// is authentic, and what was pushed. Pure functions over the headers and the raw body.
//
// - GitHub: `X-GitHub-Event` (push, ping, ...), `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
// - Gitea, Forgejo, Gogs: `X-Gitea-Event` / `X-Forgejo-Event` / `X-Gogs-Event`, the signature as bare
//   hex in `X-Gitea-Signature` / `X-Forgejo-Signature` / `X-Gogs-Signature`. Gitea also sends GitHub's
//   event header, so its own headers are looked at first.
// - GitLab: `X-Gitlab-Event` ("Push Hook", ...) and the secret itself in `X-Gitlab-Token`.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { InvalidInputError } from '../../errors.ts';

export type Forge = 'github' | 'gitea' | 'gitlab';

export type HookEvent = {
  forge: Forge;
  /** what fmd does with it: answers pings, builds pushes, ignores the rest */
  kind: 'ping' | 'push' | 'other';
  /** the forge's own event name, for messages */
  name: string;
};

export type PushEvent = {
  /** the pushed ref, e.g. refs/heads/main */
  ref: string;
  /** the branch, when a branch was pushed (null for tags and other refs) */
  branch: string | null;
  /** the commit the ref points at now */
  after: string;
  /** the ref was deleted: nothing to build */
  deleted: boolean;
};

const header = (headers: IncomingHttpHeaders, name: string): string | null => {
  const v = headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' && s.length > 0 ? s : null;
};

const giteaEventHeaders = ['x-gitea-event', 'x-forgejo-event', 'x-gogs-event'];
const giteaSignatureHeaders = ['x-gitea-signature', 'x-forgejo-signature', 'x-gogs-signature'];

/** Which forge sent the request and its event; null when it is no webhook fmd knows. */
export function identifyEvent(headers: IncomingHttpHeaders): HookEvent | null {
  for (const h of giteaEventHeaders) {
    const name = header(headers, h);
    if (name) return { forge: 'gitea', kind: name === 'push' ? 'push' : 'other', name };
  }
  const gitlab = header(headers, 'x-gitlab-event');
  if (gitlab) return { forge: 'gitlab', kind: gitlab === 'Push Hook' ? 'push' : 'other', name: gitlab };
  const github = header(headers, 'x-github-event');
  if (github) return { forge: 'github', kind: github === 'push' ? 'push' : github === 'ping' ? 'ping' : 'other', name: github };
  return null;
}

/**
 * The signature header a request of `event`'s forge should carry, when it carries none (null when
 * it has one): a webhook configured without a secret is told so rather than "does not match".
 */
export function missingSignatureHeader(event: HookEvent, headers: IncomingHttpHeaders): string | null {
  switch (event.forge) {
    case 'github':
      return header(headers, 'x-hub-signature-256') === null ? 'X-Hub-Signature-256' : null;
    case 'gitea':
      return giteaSignatureHeaders.every((h) => header(headers, h) === null) ? 'X-Gitea-Signature' : null;
    case 'gitlab':
      return header(headers, 'x-gitlab-token') === null ? 'X-Gitlab-Token' : null;
  }
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/** Constant-time equality of two hex digests (false for malformed ones). */
function sameHexDigest(given: string, expected: Buffer): boolean {
  if (!HEX_SHA256.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), expected);
}

/**
 * Whether the request is signed with `secret` as its forge signs: an HMAC-SHA256 of the raw body
 * (GitHub, Gitea) or the secret itself (GitLab). A request with no signature is not authentic.
 */
export function verifySignature(event: HookEvent, headers: IncomingHttpHeaders, body: Buffer, secret: string): boolean {
  const mac = () => createHmac('sha256', secret).update(body).digest();
  switch (event.forge) {
    case 'github': {
      const sig = header(headers, 'x-hub-signature-256');
      return sig !== null && sig.startsWith('sha256=') && sameHexDigest(sig.slice('sha256='.length), mac());
    }
    case 'gitea': {
      const sig = giteaSignatureHeaders.map((h) => header(headers, h)).find((v) => v !== null) ?? null;
      return sig !== null && sameHexDigest(sig, mac());
    }
    case 'gitlab': {
      const token = header(headers, 'x-gitlab-token');
      // Digests of both: equal lengths for timingSafeEqual, and no hint of the secret's length.
      const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
      return token !== null && timingSafeEqual(digest(token), digest(secret));
    }
  }
}

const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ZERO = /^0+$/;

/**
 * The push in a push event's body: JSON, or GitHub's form encoding (`payload=<json>`).
 * Throws InvalidInputError for a body that is no push event.
 */
export function parsePush(body: Buffer, contentType: string | undefined): PushEvent {
  let text = body.toString('utf8');
  if (/^application\/x-www-form-urlencoded\b/i.test(contentType ?? '')) {
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) throw new InvalidInputError('a form-encoded push event needs a "payload" field', 'payload');
    text = payload;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidInputError('the push event is not valid JSON', 'payload');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new InvalidInputError('the push event must be a JSON object', 'payload');
  const o = json as Record<string, unknown>;
  const ref = o.ref;
  const after = o.after;
  if (typeof ref !== 'string' || !ref.startsWith('refs/') || ref.length > 1024) throw new InvalidInputError('the push event has no valid "ref"', 'ref');
  if (typeof after !== 'string' || !COMMIT.test(after)) throw new InvalidInputError('the push event has no valid "after" commit', 'after');
  const deleted = o.deleted === true || ZERO.test(after);
  const branch = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null;
  return { ref, branch: branch || null, after, deleted };
}
