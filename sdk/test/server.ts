// The real fmd server the tests talk to: by default the server's own test kit, started in this
// process on a fresh database. With FMD_TEST_SERVER_URL and FMD_TEST_SERVER_TOKEN (an admin
// token) set, the tests use that running server instead.
export type TestServer = { url: string; adminToken: string; stop(): Promise<void> };
type Kit = { startTestServer(): Promise<TestServer> };

const external = process.env.FMD_TEST_SERVER_URL && process.env.FMD_TEST_SERVER_TOKEN ? { url: process.env.FMD_TEST_SERVER_URL, adminToken: process.env.FMD_TEST_SERVER_TOKEN } : undefined;

// Loaded by URL so that type-checking this workspace does not pull in the server's sources, and
// at import time (not from a hook) so that the kit's own file-level clean-up hooks belong to the file.
const kit = external ? undefined : ((await import(new URL('../../server/test/kit/server.ts', import.meta.url).href)) as Kit);

export async function startTestServer(): Promise<TestServer> {
  if (external) return { url: external.url.replace(/\/+$/, ''), adminToken: external.adminToken, async stop() {} };
  return kit!.startTestServer();
}
