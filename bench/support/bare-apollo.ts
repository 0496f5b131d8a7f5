// The baseline for bench/graphql-viewer.ts: a bare Apollo Server 5 on express 5 answering
// `{ hello }`, no auth, no database. Prints its URL on stdout.
import { createServer } from 'node:http';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';

const apollo = new ApolloServer({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } });
await apollo.start();
const app = express();
app.use('/graphql', express.json(), expressMiddleware(apollo));
const server = createServer(app);
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  console.log(`http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
