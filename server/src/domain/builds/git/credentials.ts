// Credentials for cloning a repo's private git sources: an SSH deploy key or an HTTPS token.
// The secret is sealed with the master key (AES-256-GCM, the seal of signing keys) bound to
// the credential's repo and name, so a sealed value cannot be moved to another row. It leaves
// the service only through `open`, which the git-build job calls to clone; it is never
// returned by the API and never logged.
import type { GitCredential, GitCredentialKind, PrismaClient } from '../../../generated/prisma/client.ts';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { openPrivateKey, sealPrivateKey } from '../../keys/pgp.ts';
import type { RepoService } from '../../repos/service.ts';
import type { Viewer } from '../../tokens/service.ts';
import { requireGitCredentialManagement, visibleGitCredentialsWhere } from './access.ts';

export const gitCredentialKinds: readonly GitCredentialKind[] = ['SSH_KEY', 'HTTPS_TOKEN'];

export type NewGitCredential = {
  repo: string;
  name: string;
  kind: GitCredentialKind;
  /** HTTPS user name (tokens only; an ssh user comes from the URL) */
  username?: string | null;
  secret: string;
};

/** What cloning with a credential needs (tools' gitCredentialEnv takes exactly this). */
export type GitCredentialSecret = { kind: GitCredentialKind; username: string | null; secret: string };

const MAX_KEY_BYTES = 16 * 1024;
const MAX_TOKEN_LENGTH = 4096;
const CONTROL = /[\u0000-\u001f\u007f]/;
const PRIVATE_KEY = /^-----BEGIN ([A-Z0-9 ]+ )?PRIVATE KEY-----\n[\s\S]+\n-----END ([A-Z0-9 ]+ )?PRIVATE KEY-----\n$/;

/** Binds a sealed secret to its row: the repo and the name, which never change. */
const sealContext = (repoId: number, name: string) => `git-credential:${repoId}:${name}`;

export class GitCredentialService {
  private readonly prisma: PrismaClient;
  private readonly repos: RepoService;
  private readonly masterKey: () => string;

  constructor(deps: { prisma: PrismaClient; repos: RepoService; masterKey: () => string }) {
    this.prisma = deps.prisma;
    this.repos = deps.repos;
    this.masterKey = deps.masterKey;
  }

  async create(viewer: Viewer, input: NewGitCredential): Promise<GitCredential> {
    if (typeof input.repo !== 'string' || !input.repo) throw new InvalidInputError('"repo" is required', 'repo');
    requireGitCredentialManagement(viewer, input.repo);
    const repo = await this.repos.getVisible(viewer, input.repo);
    const name = typeof input.name === 'string' ? input.name.trim() : '';
    if (!name) throw new InvalidInputError('a git credential needs a name', 'name');
    if (name.length > 191 || CONTROL.test(name)) throw new InvalidInputError('a git credential name is at most 191 characters, without control characters', 'name');
    if (!gitCredentialKinds.includes(input.kind)) throw new InvalidInputError(`kind must be one of ${gitCredentialKinds.join(', ')}`, 'kind');
    const secret = normalizeSecret(input.kind, input.secret);
    const username = input.username ?? null;
    if (username !== null) {
      if (input.kind === 'SSH_KEY') throw new InvalidInputError('an SSH key takes no username: the ssh user is part of the URL (ssh://git@host/...)', 'username');
      if (!username || username.length > 255 || CONTROL.test(username)) throw new InvalidInputError('the username is 1 to 255 characters, without control characters', 'username');
    }
    try {
      return await this.prisma.gitCredential.create({
        data: {
          repoId: repo.id,
          name,
          kind: input.kind,
          username,
          secretEncrypted: sealPrivateKey(secret, this.masterKey(), sealContext(repo.id, name)),
          creatorTokenId: viewer.claims.jti ?? null,
        },
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') throw new InvalidInputError(`repo ${repo.name} already has a git credential named ${name}`, 'name');
      throw err;
    }
  }

  /** A credential the viewer may see; others, and unknown ids, are not found. */
  async get(viewer: Viewer, id: number): Promise<GitCredential & { repo: { name: string } }> {
    const row = await this.prisma.gitCredential.findFirst({ where: { AND: [{ id }, visibleGitCredentialsWhere(viewer)] }, include: { repo: { select: { name: true } } } });
    if (!row) throw new NotFoundError('git credential', String(id));
    return row;
  }

  /**
   * Deletes a credential. Git sources and builds that used it keep going without one (their
   * reference is cleared), so a private source fails to clone until it is given another.
   */
  async delete(viewer: Viewer, id: number): Promise<GitCredential> {
    const row = await this.get(viewer, id);
    requireGitCredentialManagement(viewer, row.repo.name);
    await this.prisma.gitCredential.deleteMany({ where: { id } });
    return row;
  }

  /** The secret, for cloning (the git-build job). Never hand it to an API answer or a log. */
  async open(id: number): Promise<GitCredentialSecret> {
    const row = await this.prisma.gitCredential.findUnique({ where: { id } });
    if (!row) throw new NotFoundError('git credential', String(id));
    return { kind: row.kind, username: row.username, secret: openPrivateKey(row.secretEncrypted, this.masterKey(), sealContext(row.repoId, row.name)) };
  }
}

function normalizeSecret(kind: GitCredentialKind, secret: unknown): string {
  if (typeof secret !== 'string' || !secret.trim()) throw new InvalidInputError('the secret is required', 'secret');
  if (kind === 'SSH_KEY') {
    // ssh refuses a key file without its final newline; keys pasted from elsewhere often have CRLFs.
    const key = `${secret.replace(/\r\n/g, '\n').trim()}\n`;
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new InvalidInputError(`an SSH key is at most ${MAX_KEY_BYTES} bytes`, 'secret');
    if (!PRIVATE_KEY.test(key)) throw new InvalidInputError('an SSH key must be a private key in PEM/OpenSSH form (-----BEGIN ... PRIVATE KEY-----)', 'secret');
    if (/ENCRYPTED/.test(key.split('\n', 3).join('\n'))) throw new InvalidInputError('the SSH key must not be protected by a passphrase', 'secret');
    return key;
  }
  if (secret.length > MAX_TOKEN_LENGTH || CONTROL.test(secret) || /\s/.test(secret)) {
    throw new InvalidInputError(`an HTTPS token is at most ${MAX_TOKEN_LENGTH} characters, without spaces or control characters`, 'secret');
  }
  return secret;
}
