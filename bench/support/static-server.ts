// Serves a directory over HTTP on 127.0.0.1 for reference measurements: nginx when it is installed
// (apt-get install nginx-light), else a minimal Node static server in its own process. (Python's
// http.server made `ostree pull` of 500 objects take 9.7 s against 5.6 s with the Node server:
// it measured Python, not ostree.)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type StaticServer = { origin: string; name: string; stop(): Promise<void> };

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const installed = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

export async function serveDirectory(root: string): Promise<StaticServer> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-static-'));
  let child: ChildProcess;
  let name: string;
  let origin: string;
  if (installed('nginx')) {
    name = 'nginx (1 worker)';
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    mkdirSync(path.join(work, 'tmp'));
    // As root nginx drops its worker to nobody, who cannot read a private temp dir.
    const user = process.getuid?.() === 0 ? 'user root;' : '';
    writeFileSync(
      path.join(work, 'nginx.conf'),
      `${user}
worker_processes 1; pid ${work}/nginx.pid; error_log ${work}/error.log warn; daemon off;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000; default_type application/octet-stream;
  client_body_temp_path ${work}/tmp; proxy_temp_path ${work}/tmp; fastcgi_temp_path ${work}/tmp; uwsgi_temp_path ${work}/tmp; scgi_temp_path ${work}/tmp;
  server { listen 127.0.0.1:${port}; root ${root}; }
}`,
    );
    child = spawn('nginx', ['-c', path.join(work, 'nginx.conf'), '-p', work], { stdio: ['ignore', 'inherit', 'inherit'] });
  } else {
    name = 'node static server';
    child = spawn(process.execPath, [fileURLToPath(new URL('./static-files.ts', import.meta.url)), root], { stdio: ['ignore', 'pipe', 'inherit'] });
    origin = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code: number | null) => reject(new Error(`the static server exited with ${code}`)));
      child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    });
  }
  const exited = new Promise((r) => child.once('exit', r));
  for (let i = 0; ; i++) {
    try {
      await fetch(origin, { method: 'HEAD' });
      break;
    } catch {
      if (i === 200 || child.exitCode !== null) throw new Error(`${name} did not start on ${origin}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    origin,
    name,
    async stop() {
      child.kill(name.startsWith('nginx') ? 'SIGQUIT' : 'SIGTERM');
      await exited;
      rmSync(work, { recursive: true, force: true });
    },
  };
}
