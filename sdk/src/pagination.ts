// Lists are Relay connections (`first`/`after`, `last`/`before`). This walks one to its end.

/** A page of a connection as the list operations select it. */
export type ConnectionPage<N> = {
  edges: ReadonlyArray<{ node: N }>;
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
};

/**
 * Every node of a connection, page after page, fetched as the iteration goes:
 * `for await (const b of allNodes((after) => client.builds({ repo, first: 100, after }).then((r) => r.builds)))`.
 */
export async function* allNodes<N>(page: (after: string | undefined) => Promise<ConnectionPage<N>>): AsyncGenerator<N, void, undefined> {
  let after: string | undefined;
  for (;;) {
    const { edges, pageInfo } = await page(after);
    for (const edge of edges) yield edge.node;
    // A page that ends without a cursor cannot be followed: stop rather than fetch page one again.
    if (!pageInfo.hasNextPage || !pageInfo.endCursor) return;
    after = pageInfo.endCursor;
  }
}
