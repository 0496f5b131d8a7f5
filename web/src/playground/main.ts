// The GraphQL playground fmd serves at /playground: GraphiQL from npm, bundled on this page only
// (the dashboard stays free of React). Queries and mutations go over HTTP, subscriptions over
// graphql-ws, both to this origin; the token the dashboard signed in with fills the auth header.
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/style.css';
// A file, not a <style> in the page: the Content-Security-Policy allows no inline styles.
import './playground.css';
import { loadConnection } from '../settings.ts';

const token = loadConnection(sessionStorage)?.token;
const authorization = token ? `Bearer ${token}` : undefined;
const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`;

const fetcher = createGraphiQLFetcher({
  url: `${location.origin}/graphql`,
  subscriptionUrl: wsUrl,
  // graphql-ws sends these in its connection_init: fmd reads the token there.
  wsConnectionParams: authorization ? { authorization } : {},
});

createRoot(document.getElementById('playground')!).render(
  createElement(GraphiQL, {
    fetcher,
    defaultHeaders: authorization ? JSON.stringify({ authorization }, null, 2) : undefined,
    defaultQuery: '# fmd GraphQL playground. Sign in on the dashboard (/) to fill the authorization header.\n{\n  viewer {\n    scopes\n  }\n}\n',
  }),
);
