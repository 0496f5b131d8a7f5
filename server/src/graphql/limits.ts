// The limits every GraphQL operation passes before it runs, on HTTP (Apollo) and WebSocket
// (graphql-ws) alike: size (the transport's body or message limit), tokens (counted while
// parsing, so a huge document is refused after `maxTokens` tokens, not parsed in full), depth,
// aliases, directives and cost.
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { parse, specifiedRules, validate, type DocumentNode, type GraphQLError, type GraphQLSchema, type ParseOptions, type ValidationRule } from 'graphql';
import type { FmdConfig } from '../config/index.ts';

export const maxTokens = 5000;

export type GraphQLLimits = {
  parseOptions: ParseOptions;
  /** the extra validation rules; graphql's specified rules run as well */
  validationRules: ValidationRule[];
  /** parses and validates a document as Apollo does with the same options */
  check(schema: GraphQLSchema, source: string): { document: DocumentNode } | { errors: readonly GraphQLError[] };
};

export function createLimits(config: Pick<FmdConfig, 'maxQueryDepth' | 'maxQueryCost'>): GraphQLLimits {
  const armor = new ApolloArmor({
    maxDepth: { n: config.maxQueryDepth, ignoreIntrospection: true },
    costLimit: { maxCost: config.maxQueryCost, ignoreIntrospection: true },
    maxAliases: { n: 30 },
    maxDirectives: { n: 50 },
    // graphql's own parser counts tokens (parseOptions): armor's Apollo plugin parses the whole
    // document a second time with a proxied lexer, and its refusal was answered as a 500.
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  });
  const validationRules = armor.protect().validationRules as ValidationRule[];
  const parseOptions: ParseOptions = { maxTokens };
  const rules = [...specifiedRules, ...validationRules];
  return {
    parseOptions,
    validationRules,
    check(schema, source) {
      let document: DocumentNode;
      try {
        document = parse(source, parseOptions);
      } catch (err) {
        return { errors: [err as GraphQLError] };
      }
      const errors = validate(schema, document, rules);
      return errors.length ? { errors } : { document };
    },
  };
}
