// Root connections read a page and count the whole list. Started together, the two queries
// cost one wait for the database instead of two in a row (Pothos asks for the count only once
// the page is resolved).
import { Kind, type GraphQLResolveInfo } from 'graphql';

const counts = new WeakMap<GraphQLResolveInfo, Promise<number>>();

/** Starts the count beside the page read when the query selects `totalCount` directly. */
export function startCount(info: GraphQLResolveInfo, count: () => Promise<number>): void {
  const wanted = info.fieldNodes.some((f) => f.selectionSet?.selections.some((s) => s.kind === Kind.FIELD && s.name.value === 'totalCount'));
  if (!wanted) return;
  const pending = count();
  pending.catch(() => undefined); // a failing page read must not leave this rejection unhandled
  counts.set(info, pending);
}

/** The count startCount began for this field, or a new one (e.g. totalCount inside a fragment). */
export function countFor(info: GraphQLResolveInfo, count: () => Promise<number>): Promise<number> {
  return counts.get(info) ?? count();
}
