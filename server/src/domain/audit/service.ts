// The audit log: who did what, one row per GraphQL mutation root field and per REST write.
// Recording never fails the request it records (a failed insert is a warning in the log), and a
// row holds identifiers only (repo names, build numbers, key ids, token jtis), never a secret:
// callers pass targets built from allow-listed fields (targetOf), never whole inputs.
import type { Logger } from 'pino';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import type { Viewer } from '../tokens/service.ts';

export type AuditRecord = {
  transport: 'graphql' | 'rest';
  action: string;
  viewer: Viewer | null;
  target?: string | null;
  result: string;
  requestId?: string | null;
  clientIp?: string | null;
};

export type AuditFilter = {
  action?: string | null;
  tokenId?: string | null;
  /** a part of the target (`repo=stable`, `build=12`) */
  target?: string | null;
  result?: string | null;
  since?: Date | null;
  until?: Date | null;
};

const clipTo = (v: string | null | undefined, n: number): string | null => (v === null || v === undefined || v === '' ? null : v.length > n ? v.slice(0, n) : v);

/**
 * Input fields that name what a write acts on, in the order they are written into a target.
 * Only these are ever copied: secrets (token values, private keys, passphrases, webhook
 * secrets, credentials) are not among them.
 */
const targetFields = ['repo', 'name', 'build', 'job', 'number', 'id', 'keyId', 'targetRepo', 'app', 'ref', 'tokenIds'] as const;

/** A short identifier of what an input names: `repo=stable build=12`. */
export function targetOf(input: unknown): string | null {
  if (typeof input !== 'object' || input === null) return null;
  const parts: string[] = [];
  for (const field of targetFields) {
    const v = (input as Record<string, unknown>)[field];
    if (typeof v === 'string' || typeof v === 'number') parts.push(`${field}=${v}`);
    else if (Array.isArray(v) && v.length) parts.push(`${field}=${v.slice(0, 20).map(String).join(',')}${v.length > 20 ? ',…' : ''}`);
  }
  return parts.length ? parts.join(' ') : null;
}

export class AuditService {
  private readonly prisma: PrismaClient;
  private readonly log: Logger;

  constructor(deps: { prisma: PrismaClient; log: Logger }) {
    this.prisma = deps.prisma;
    this.log = deps.log;
  }

  /** Records one entry; never throws (a failed insert is logged as a warning). */
  async record(r: AuditRecord): Promise<void> {
    const claims = r.viewer?.claims;
    try {
      await this.prisma.auditEntry.create({
        data: {
          transport: r.transport,
          action: clipTo(r.action, 255) ?? '?',
          tokenId: clipTo(claims?.jti, 191),
          tokenName: clipTo(claims?.name, 255),
          subject: clipTo(claims?.sub, 255),
          target: clipTo(r.target, 512),
          result: clipTo(r.result, 64) ?? '?',
          requestId: clipTo(r.requestId, 128),
          clientIp: clipTo(r.clientIp, 64),
        },
      });
    } catch (err) {
      this.log.warn({ err, action: r.action, requestId: r.requestId }, 'could not record an audit entry');
    }
  }

  /** The rows a filter selects (the list reads them newest first). */
  where(f: AuditFilter): Prisma.AuditEntryWhereInput {
    const and: Prisma.AuditEntryWhereInput[] = [];
    if (f.action) and.push({ action: f.action });
    if (f.tokenId) and.push({ tokenId: f.tokenId });
    if (f.target) and.push({ target: { contains: f.target } });
    if (f.result) and.push({ result: f.result });
    if (f.since) and.push({ createdAt: { gte: f.since } });
    if (f.until) and.push({ createdAt: { lt: f.until } });
    return { AND: and };
  }

  list(f: AuditFilter, take = 100) {
    return this.prisma.auditEntry.findMany({ where: this.where(f), orderBy: { id: 'desc' }, take });
  }
}
