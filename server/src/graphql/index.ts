// Builds the GraphQL schema from the per-area files.
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.ts';
import { checkNodeLoaders } from './node.ts';
import './scalars.ts';
import './errors.ts';
import './viewer.ts';
import './token.ts';
import './job.ts';
import './key.ts';
import './repo.ts';
import './build.ts';
import './build-stats.ts';
import './git-build.ts';
import './build-set.ts';
import './git-hooks.ts';
import './webhooks.ts';
import './users.ts';
import './retention.ts';
import { auditMutations } from './audit.ts';

let schema: GraphQLSchema | undefined;

export function buildSchema(): GraphQLSchema {
  if (!schema) {
    schema = builder.toSchema();
    checkNodeLoaders(schema);
    auditMutations(schema);
  }
  return schema;
}

/** The committed contract: schema.graphql, sorted. */
export function printSortedSchema(): string {
  return `${printSchema(lexicographicSortSchema(buildSchema()))}\n`;
}
