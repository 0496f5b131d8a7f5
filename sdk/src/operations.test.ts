// The SDK covers the whole schema: every root field has its operation, named after it, and every
// operation document validates against the committed schema.graphql. (Codegen refuses invalid
// documents too, and scripts/install.sh runs it; this says which field or operation is at fault.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { buildSchema, concatAST, parse, validate, Kind, OperationTypeNode, type DocumentNode, type GraphQLObjectType, type OperationDefinitionNode } from 'graphql';
import * as generated from './generated/graphql.ts';

const operationsDir = new URL('./operations/', import.meta.url);
const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
const files = readdirSync(operationsDir).filter((f) => f.endsWith('.graphql'));
const documents = concatAST(files.map((f) => parse(readFileSync(new URL(f, operationsDir), 'utf8'))));
const operations = documents.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);

const pascal = (field: string) => field.charAt(0).toUpperCase() + field.slice(1);
const roots: Array<[OperationTypeNode, GraphQLObjectType | null | undefined]> = [
  [OperationTypeNode.QUERY, schema.getQueryType()],
  [OperationTypeNode.MUTATION, schema.getMutationType()],
  [OperationTypeNode.SUBSCRIPTION, schema.getSubscriptionType()],
];

test('every root field of schema.graphql has an SDK operation named after it', () => {
  const missing: string[] = [];
  for (const [kind, type] of roots) {
    for (const field of Object.keys(type?.getFields() ?? {})) {
      const op = operations.find((o) => o.operation === kind && o.name?.value === pascal(field));
      const selects = op?.selectionSet.selections.some((s) => s.kind === Kind.FIELD && s.name.value === field);
      if (!op) missing.push(`${kind} ${field}: no operation ${pascal(field)} in sdk/src/operations/*.graphql`);
      else if (!selects) missing.push(`${kind} ${field}: operation ${pascal(field)} does not select ${field}`);
    }
  }
  assert.deepEqual(missing, []);
});

// Narrower operations may exist beside them (a command that needs two fields of a repo), under
// other names; the one named after a root field is the SDK's method for it.
test('an operation named after a root field selects that field only', () => {
  const wrong = roots.flatMap(([kind, type]) =>
    Object.keys(type?.getFields() ?? {}).flatMap((field) =>
      operations
        .filter((o) => o.name?.value === pascal(field))
        .filter((o) => o.operation !== kind || o.selectionSet.selections.length !== 1 || o.selectionSet.selections.some((s) => s.kind !== Kind.FIELD || s.name.value !== field))
        .map((o) => `${o.operation} ${o.name?.value}`),
    ),
  );
  assert.deepEqual(wrong, []);
});

test('every operation document validates against schema.graphql', () => {
  const errors = validate(schema, documents as DocumentNode).map((e) => `${e.message} ${e.locations?.map((l) => `(line ${l.line})`).join(' ') ?? ''}`);
  assert.deepEqual(errors, []);
});

// The server's own limits (depth, cost: graphql-armor) with its default configuration, loaded by
// URL so that type-checking this workspace does not pull in the server's sources.
type ServerLimits = { createLimits(c: { maxQueryDepth: number; maxQueryCost: number }): { validationRules: Parameters<typeof validate>[2] } };
type ServerConfig = { loadConfig(env: object, options: object): { maxQueryDepth: number; maxQueryCost: number } };

test("every operation passes the server's default depth and cost limits", async () => {
  const { createLimits } = (await import(new URL('../../server/src/graphql/limits.ts', import.meta.url).href)) as ServerLimits;
  const { loadConfig } = (await import(new URL('../../server/src/config/index.ts', import.meta.url).href)) as ServerConfig;
  const rules = createLimits(loadConfig({}, {})).validationRules;
  const fragments = documents.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  const refused = operations.flatMap((op) => validate(schema, { kind: Kind.DOCUMENT, definitions: [op, ...fragments] }, rules).map((e) => `${op.name?.value}: ${e.message}`));
  assert.deepEqual(refused, []);
});

test('the generated SDK is current: one method per operation, no TypeScript enums', () => {
  const methods = Object.keys(generated.getSdk(<R,>() => Promise.resolve({} as R))).sort();
  assert.deepEqual(methods, operations.map((o) => o.name!.value).sort(), 'run npm run codegen');
  const source = readFileSync(new URL('./generated/graphql.ts', import.meta.url), 'utf8');
  assert.doesNotMatch(source, /^\s*(export\s+)?(const\s+)?enum\s/m, 'enums are const objects (codegen.ts enumType)');
});
