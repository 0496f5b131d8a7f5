// A loopback server that answers flat-manager's build API and discards every byte: every object
// is missing, every upload and ref is accepted unread. A push to it measures the client alone
// (its reading, framing and sending), the ceiling any server can reach with that client.
// Run as its own process (so it does not share the client's event loop); prints its origin.
import http from 'node:http';
import { gunzipSync } from 'node:zlib';

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  const missing = req.url!.endsWith('/missing_objects');
  // Only missing_objects' body is read; everything else is drained and dropped.
  req.on('data', (c: Buffer) => missing && chunks.push(c));
  req.on('end', () => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && req.url === '/api/v1/build') {
      return reply(200, { id: 1, repo: 'sink' }, { location: `http://${req.headers.host}/api/v1/build/1` });
    }
    if (missing) {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      return reply(200, { missing: (JSON.parse(body.toString('utf8')) as { wanted: string[] }).wanted });
    }
    reply(200, {});
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  console.log(`http://127.0.0.1:${port}`);
});
process.on('SIGTERM', () => process.exit(0));
