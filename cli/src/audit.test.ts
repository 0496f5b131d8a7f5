// `fmdc audit` as a child process against a real server: the table, --json with filters,
// paging, a bad --since, and a token without the admin scope.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../test/server.ts';
import { fmdc as runFmdc, type Run } from '../test/fmdc.ts';

function fmdc(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return runFmdc(args, { env });
}

function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit 0 expected; stdout: ${run.stdout} stderr: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

type Entry = { action: string; target: string | null; result: string; tokenId: string | null; tokenName: string | null; transport: string };
type Page = { totalCount: number; nodes: Entry[]; hasNextPage: boolean; endCursor: string | null };

describe('fmdc audit', () => {
  let server: TestServer;
  let env: Record<string, string>;
  before(async () => {
    server = await startTestServer();
    env = { FMDC_URL: server.url, FMDC_TOKEN: server.adminToken };
  });
  after(async () => {
    await server?.stop();
  });

  test('lists writes newest first, filtered, as a table and as JSON; admins only', async () => {
    assert.equal((await fmdc(['repo', 'create', 'cli-audited'], env)).code, 0);
    assert.notEqual((await fmdc(['repo', 'delete', 'cli-no-such-repo', '--yes'], env)).code, 0);
    const created = await fmdc(['token', 'create', 'cli-audit-builder', '--scope', 'build', '--duration', '1h'], env);
    assert.equal(created.code, 0, created.stderr);
    const builderToken = created.stdout.trim();

    const table = await fmdc(['audit'], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^TIME\s+TOKEN\s+ACTION\s+TARGET\s+RESULT\s+IP$/m);
    assert.match(table.stdout, /bootstrap admin token\s+createRepo\s+name=cli-audited\s+ok/);

    const repos = json<Page>(await fmdc(['audit', '--action', 'createRepo', '--json'], env));
    assert.equal(repos.totalCount, 1);
    assert.equal(repos.nodes[0]!.target, 'name=cli-audited');
    assert.equal(repos.nodes[0]!.result, 'ok');
    assert.equal(repos.nodes[0]!.transport, 'graphql');

    const notFound = json<Page>(await fmdc(['audit', '--result', 'not-found', '--since', '1h', '--json'], env));
    assert.deepEqual(notFound.nodes.map((e) => e.action), ['deleteRepo']);
    const byTarget = json<Page>(await fmdc(['audit', '--target', 'cli-no-such', '--json'], env));
    assert.deepEqual(byTarget.nodes.map((e) => e.target), ['name=cli-no-such-repo']);
    const builderId = (JSON.parse((await fmdc(['whoami', '--json'], { ...env, FMDC_TOKEN: builderToken })).stdout) as { tokenId: string }).tokenId;
    const byToken = json<Page>(await fmdc(['audit', '--token-id', builderId, '--json'], env));
    assert.equal(byToken.totalCount, 0, 'the builder has written nothing yet');
    const own = json<Page>(await fmdc(['audit', '--token-id', repos.nodes[0]!.tokenId!, '--json'], env));
    assert.ok(own.nodes.length >= 3 && own.nodes.every((e) => e.tokenId === repos.nodes[0]!.tokenId));
    const none = json<Page>(await fmdc(['audit', '--until', '2000-01-01T00:00:00Z', '--json'], env));
    assert.equal(none.totalCount, 0);

    const first = json<Page>(await fmdc(['audit', '--first', '1', '--json'], env));
    assert.equal(first.nodes.length, 1);
    assert.equal(first.hasNextPage, true);
    const more = await fmdc(['audit', '--first', '1'], env);
    assert.match(more.stdout, /next page: fmdc audit --after \S+/);

    const bad = await fmdc(['audit', '--since', 'yesterday-ish'], env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--since yesterday-ish is neither a time nor a duration/);

    const refused = await fmdc(['audit'], { ...env, FMDC_TOKEN: builderToken });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /forbidden|admin/i);
  });
});
