// The app catalog: the apps of a repo from its appstream data (domain/catalog/service.ts), with
// their refs and the history of their published builds.
import { builder } from './builder.ts';
import type { Repo } from '../generated/prisma/client.ts';
import type { CatalogApp, CatalogRef, CatalogRelease, CatalogScreenshot } from '../domain/catalog/service.ts';
import type { GraphQLContext } from './context.ts';

type AppParent = { repo: Repo; app: CatalogApp };

const AppRelease = builder.objectRef<CatalogRelease>('AppRelease').implement({
  description: 'A release named in the app\'s appstream data, newest first.',
  fields: (t) => ({
    version: t.exposeString('version'),
    date: t.exposeString('date', { nullable: true, description: 'YYYY-MM-DD' }),
    description: t.exposeString('description', { nullable: true, description: 'plain text' }),
  }),
});

const AppScreenshot = builder.objectRef<CatalogScreenshot>('AppScreenshot').implement({
  fields: (t) => ({
    url: t.exposeString('url', { description: 'the source image' }),
    caption: t.exposeString('caption', { nullable: true }),
    isDefault: t.exposeBoolean('isDefault'),
  }),
});

const AppRef = builder.objectRef<CatalogRef>('AppRef').implement({
  description: 'A ref of the app in the repo (one per arch and branch), read from its commit.',
  fields: (t) => ({
    name: t.exposeString('ref', { description: 'e.g. app/org.example.App/x86_64/stable' }),
    arch: t.exposeString('arch'),
    branch: t.exposeString('branch'),
    commit: t.exposeString('commit'),
    timestamp: t.expose('timestamp', { type: 'DateTime' }),
    installedSize: t.float({ nullable: true, description: 'bytes', resolve: (r) => (r.installedSize === null ? null : Number(r.installedSize)) }),
    downloadSize: t.float({ nullable: true, description: 'bytes', resolve: (r) => (r.downloadSize === null ? null : Number(r.downloadSize)) }),
    endOfLife: t.exposeString('endOfLife', { nullable: true }),
    endOfLifeRebase: t.exposeString('endOfLifeRebase', { nullable: true }),
  }),
});

/** A path on this server, or a URL under base-url when it is configured. */
function here(ctx: GraphQLContext, p: string): string {
  return `${ctx.services.config.baseUrl ?? ''}${p}`;
}

function remoteName(repo: Repo): string {
  return repo.suggestedRemoteName ?? repo.name;
}

const AppType = builder.objectRef<AppParent>('App').implement({
  description: "An app (or runtime) of a repo, as the repo's appstream data describes it.",
  fields: (t) => ({
    id: t.string({ description: 'the app id, e.g. org.example.App', resolve: (p) => p.app.id }),
    repo: t.string({ description: 'the repo name', resolve: (p) => p.repo.name }),
    kind: t.string({ description: 'app or runtime', resolve: (p) => p.app.kind }),
    name: t.string({ resolve: (p) => p.app.name }),
    summary: t.string({ nullable: true, resolve: (p) => p.app.summary }),
    description: t.string({ nullable: true, description: 'plain text: paragraphs separated by a blank line, list items starting with "• "', resolve: (p) => p.app.description }),
    developer: t.string({ nullable: true, resolve: (p) => p.app.developer }),
    license: t.string({ nullable: true, description: 'SPDX expression (project_license)', resolve: (p) => p.app.license }),
    homepage: t.string({ nullable: true, resolve: (p) => p.app.homepage }),
    arches: t.stringList({ description: 'arches whose appstream lists it', resolve: (p) => p.app.arches }),
    iconUrl: t.string({
      nullable: true,
      description: 'the icon (PNG) from the appstream data; fetch it with the same token (Authorization: Bearer). A path on this server unless base-url is configured',
      resolve: (p, _a, ctx) => (p.app.iconSize === null ? null : here(ctx, `/api/catalog/${encodeURIComponent(p.repo.name)}/icons/${encodeURIComponent(p.app.id)}.png`)),
    }),
    iconSize: t.int({ nullable: true, description: 'pixels (square)', resolve: (p) => p.app.iconSize }),
    releases: t.field({ type: [AppRelease], resolve: (p) => p.app.releases }),
    screenshots: t.field({ type: [AppScreenshot], resolve: (p) => p.app.screenshots }),
    refs: t.field({ type: [AppRef], description: "the app's refs in the repo", resolve: (p, _a, ctx) => ctx.services.catalog.refs(p.repo.name, p.app) }),
    flatpakrefUrl: t.string({
      description: 'the .flatpakref file fmd writes when it publishes the app (a path on this server unless base-url is configured)',
      resolve: (p, _a, ctx) => here(ctx, `/repo/${encodeURIComponent(p.repo.name)}/appstream/${encodeURIComponent(p.app.id)}.flatpakref`),
    }),
    remoteName: t.string({ description: "the remote name clients should give the repo: its suggested remote name, else its name", resolve: (p) => remoteName(p.repo) }),
    flatpakrepoUrl: t.string({
      description: "the repo's .flatpakrepo file, for `flatpak remote-add` (a path on this server unless base-url is configured)",
      resolve: (p, _a, ctx) => here(ctx, `/repo/${encodeURIComponent(p.repo.name)}.flatpakrepo`),
    }),
    installCommand: t.string({
      description: 'e.g. `flatpak install fmd org.example.App` (the remote: the repo\'s suggested remote name, else its name)',
      resolve: (p) => `flatpak install ${remoteName(p.repo)} ${p.app.id}`,
    }),
    builds: t.prismaField({
      type: ['Build'],
      description: 'the builds of this app published into the repo (that your token may read), newest first',
      args: { first: t.arg.int({ description: 'default 20, at most 100' }) },
      resolve: (query, p, args, ctx) => {
        const where = ctx.services.catalog.publishedBuildsWhere(ctx.viewer!, p.repo.name, p.app);
        if (!where) return [];
        const take = Math.max(1, Math.min(100, args.first ?? 20));
        return ctx.services.prisma.build.findMany({ ...query, where, orderBy: { id: 'desc' }, take });
      },
    }),
  }),
});

builder.queryField('apps', (t) =>
  t.field({
    type: [AppType],
    nullable: true,
    description: "The apps of a repo from its appstream data, those your token's app-id prefixes cover, by id; null when the repo is unknown to your token. `search` matches words in the id, name, summary and developer (any case, at most 200 characters).",
    authScopes: { authenticated: true },
    args: { repo: t.arg.string({ required: true }), search: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const apps = await ctx.services.catalog.apps(ctx.viewer!, args.repo, args.search);
      if (!apps) return null;
      const repo = await ctx.services.repos.get(args.repo);
      return apps.map((app) => ({ repo, app }));
    },
  }),
);

builder.queryField('app', (t) =>
  t.field({
    type: AppType,
    nullable: true,
    description: 'One app of a repo; null when the repo or the app is unknown to your token.',
    authScopes: { authenticated: true },
    args: { repo: t.arg.string({ required: true }), id: t.arg.string({ required: true, description: 'the app id' }) },
    resolve: async (_root, args, ctx) => {
      const app = await ctx.services.catalog.app(ctx.viewer!, args.repo, args.id);
      if (!app) return null;
      return { repo: await ctx.services.repos.get(args.repo), app };
    },
  }),
);
