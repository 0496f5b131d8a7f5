// A minimal static file server (GET/HEAD, keep-alive) for `node static-files.ts <root>`: the
// stand-in for nginx in reference measurements when nginx is not installed. Prints its origin.
import { createReadStream, stat } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const root = path.resolve(process.argv[2]!);
const server = http.createServer((req, res) => {
  const file = path.join(root, path.normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname)));
  stat(file, (err, s) => {
    if (err || !s.isFile() || !file.startsWith(root + path.sep)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': s.size, 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));
