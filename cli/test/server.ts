// The same real-server helper the SDK's tests use (see its header).
export { startTestServer, type TestServer } from '../../sdk/test/server.ts';

// For the build commands: a server of the test kit that builds git sources (file:// URLs, the
// offline test runtime as a builder remote), and the kit's fixtures to make git apps and to
// push an upload build the way flat-manager-client does. Loaded by URL, like the SDK's helper,
// so that type-checking this workspace does not pull in the server's sources.
const kit = (path: string) => import(new URL(`../../server/test/kit/${path}`, import.meta.url).href);

export type KitServer = {
  url: string;
  adminToken: string;
  gql(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<{ status: number; body: { data?: any; errors?: any } }>;
  stop(): Promise<void>;
};
export type GitApp = { dir: string; url: string; commit: string; manifestPath: string; appId: string; message: string };
export type GitAppOptions = { appId?: string; message?: string; buildCommands?: string[] };

export type BuildKit = {
  server: KitServer;
  /** a new git repository holding a manifest the server can build */
  makeGitApp(o: GitAppOptions): Promise<GitApp>;
  /** a signed repo made through GraphQL (`extra`: more CreateRepoInput fields) */
  createSignedRepo(name: string, extra?: Record<string, unknown>): Promise<void>;
  /** pushes the kit's test app (org.test.Hello) to an upload build, as flat-manager-client does; answers its ref */
  pushTestApp(buildUrl: string): Promise<string>;
};

/** A test-kit server with git builds enabled, and its fixtures. */
export async function startBuildServer(): Promise<BuildKit> {
  const [{ startTestServer: start }, git, repos, builder, fmc] = await Promise.all([
    kit('server.ts'),
    kit('git-fixtures.ts'),
    kit('repo-fixtures.ts'),
    kit('builder-user.ts'),
    kit('flat-manager-client.ts'),
  ]);
  await builder.ensureBuilderUser();
  // The runtime the kit's test app was built on is also what git builds install.
  const { runtimeRepo, appRepo, app } = await repos.testBuilds();
  const server = (await start({ ...git.gitBuildConfig(runtimeRepo), 'job-poll-ms': 200, 'delay-update-secs': 0 })) as KitServer;
  return {
    server,
    makeGitApp: (o) => git.makeGitApp(o),
    createSignedRepo: (name, extra = {}) => repos.createSignedRepo(server, name, extra),
    async pushTestApp(buildUrl) {
      const client = new fmc.FlatManagerClient(server.url, server.adminToken);
      await client.push(buildUrl, appRepo, { [app.ref]: app.commit });
      return app.ref as string;
    },
  };
}
