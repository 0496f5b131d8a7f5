import { defineConfig } from 'prisma/config';

// Prisma only reads this for `prisma generate` here; fmd applies migrations itself
// (server/src/db/migrate.ts) because the schema engine is not available offline.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
