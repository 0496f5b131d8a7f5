// Users own tokens. The first start creates the bootstrap admin and mints its first token.
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { allScopes } from '../tokens/claims.ts';
import type { TokenService } from '../tokens/service.ts';

export const bootstrapAdminName = 'admin';
const year = 365 * 24 * 3600;

export class UserService {
  private readonly prisma: PrismaClient;
  private readonly tokens: TokenService;
  constructor(prisma: PrismaClient, tokens: TokenService) {
    this.prisma = prisma;
    this.tokens = tokens;
  }

  /**
   * Creates the admin user if no admin exists and returns a token for it; returns null when an
   * admin already exists (its token was printed on the first start; mint another with
   * `npm run token -- --admin`). Safe when several processes start at once: the unique
   * user name decides who bootstraps.
   */
  async bootstrapAdmin(): Promise<string | null> {
    if (await this.prisma.user.findFirst({ where: { isAdmin: true } })) return null;
    try {
      await this.prisma.user.create({ data: { name: bootstrapAdminName, isAdmin: true } });
    } catch {
      return null; // another process created it first
    }
    return this.mintAdminToken('bootstrap admin token');
  }

  async mintAdminToken(name = 'admin token', durationSeconds = year): Promise<string> {
    const admin =
      (await this.prisma.user.findFirst({ where: { isAdmin: true }, orderBy: { id: 'asc' } })) ??
      (await this.prisma.user.create({ data: { name: bootstrapAdminName, isAdmin: true } }));
    const { token } = await this.tokens.mint(
      { name, scope: [...allScopes], prefixes: [''], repos: [''], duration: durationSeconds },
      { ownerId: admin.id },
    );
    return token;
  }
}
