// The Redis the multi-process tests use (FMD_TEST_REDIS_URL, default the local one); tests skip
// when it is not there.
import net from 'node:net';

export const redisUrl = process.env.FMD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function redisReachable(): Promise<boolean> {
  const u = new URL(redisUrl);
  return new Promise((resolve) => {
    const c = net.connect(Number(u.port || 6379), u.hostname, () => {
      c.end();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}
