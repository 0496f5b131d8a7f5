// graphql-codegen: schema.graphql + sdk/src/operations/*.graphql -> sdk/src/generated/graphql.ts
// (gitignored; `npm run codegen`). Only typescript-operations + typescript-generic-sdk: the
// `typescript` plugin would duplicate the enums. The output must run under Node's type
// stripping, so enums are const objects and type-only imports use `import type`.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  overwrite: true,
  schema: 'schema.graphql',
  documents: 'sdk/src/operations/*.graphql',
  generates: {
    'sdk/src/generated/graphql.ts': {
      plugins: ['typescript-operations', 'typescript-generic-sdk'],
      config: {
        // `export const TokenChangeKind = { ... } as const` plus a union type of its values.
        enumType: 'const',
        useTypeImports: true,
        // Documents as plain DocumentNode objects: no graphql-tag and no TypedDocumentString class
        // to ship; the client prints each once.
        documentMode: 'documentNode',
        scalars: { DateTime: 'string', JSON: 'unknown', ID: 'string' },
        strictScalars: true,
        avoidOptionals: false,
        skipTypename: false,
      },
    },
  },
};

export default config;
