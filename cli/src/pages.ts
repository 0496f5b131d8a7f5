// Paging of list commands: `--first` and `--after` for one page, `--all` for every page.
// `--json` prints the nodes with the connection's totalCount and where the last page ended.
import { Flags } from '@oclif/core';

export const pageFlags = {
  first: Flags.integer({ description: 'how many per page', default: 50, min: 1, max: 100, aliases: ['limit'] }),
  after: Flags.string({ description: 'start after this cursor (printed when there are more)', exclusive: ['all'] }),
  all: Flags.boolean({ description: 'fetch every page', default: false }),
};

type PageInfo = { hasNextPage: boolean; endCursor?: string | null };
export type Connection<N> = { totalCount: number; pageInfo: PageInfo; edges: readonly { node: N }[] };

/** A list command's result: the nodes and the paging state after them. */
export type Page<N> = { totalCount: number; nodes: N[]; hasNextPage: boolean; endCursor: string | null };

/** One page (or all of them with `all`), fetched with `first`/`after`. */
export async function fetchPages<N>(
  flags: { first: number; after?: string | undefined; all: boolean },
  fetch: (page: { first: number; after?: string }) => Promise<Connection<N>>,
): Promise<Page<N>> {
  const nodes: N[] = [];
  let after = flags.after;
  for (;;) {
    const c = await fetch({ first: flags.first, ...(after !== undefined && { after }) });
    nodes.push(...c.edges.map((e) => e.node));
    const endCursor = c.pageInfo.endCursor ?? null;
    if (!flags.all || !c.pageInfo.hasNextPage || !endCursor) return { totalCount: c.totalCount, nodes, hasNextPage: c.pageInfo.hasNextPage, endCursor };
    after = endCursor;
  }
}

/** The line under a table when there is more to see, or undefined. */
export function morePages(page: Page<unknown>, command: string): string | undefined {
  if (!page.hasNextPage || !page.endCursor) return undefined;
  return `${page.nodes.length} of ${page.totalCount} shown; next page: ${command} --after ${page.endCursor} (or --all)`;
}
