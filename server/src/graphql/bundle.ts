// .flatpak bundles: `requestBundle` queues the job that makes one (or answers the one made), the
// `bundle` query, `Build.bundles` and `RepoRef.bundle` show their state and download URL. Who may
// see or request one is who may download what it holds (BundleService).
import { builder } from './builder.ts';
import type { GraphQLContext } from './context.ts';
import { BuildNode } from './build.ts';
import { RepoRefRef } from './repo.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../domain/errors.ts';
import { WrongStateError } from '../domain/builds/states.ts';
import type { BundleAsker } from '../domain/bundles/service.ts';
import { readableJobsWhere } from '../domain/jobs/access.ts';
import type { Bundle, Job } from '../generated/prisma/client.ts';

const asker = (ctx: GraphQLContext): BundleAsker => ({
  viewer: async () => {
    if (!ctx.viewer) throw ctx.authorizationError('not authenticated');
    return ctx.viewer;
  },
});

/** null instead of the errors that mean "not yours or not there". */
async function hidden<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof ForbiddenError || err instanceof WrongStateError || err instanceof InvalidInputError) return null;
    throw err;
  }
}

const BundleStateEnum = builder.enumType('BundleState', {
  description: 'QUEUED and MAKING: its bundle job is queued or running; READY: downloadable at `url`; FAILED: `error` says why (requestBundle tries again)',
  values: ['QUEUED', 'MAKING', 'READY', 'FAILED'] as const,
});

export const BundleRef = builder.objectRef<Bundle>('Bundle').implement({
  description: 'A single-file .flatpak bundle of one commit of a ref, of a build or of a published repo (`flatpak install --bundle`).',
  fields: (t) => ({
    number: t.exposeInt('id'),
    buildNumber: t.exposeInt('buildId', { nullable: true, description: 'the build it is made from; null for a published ref' }),
    repo: t.exposeString('repo', { description: "the repo the ref is published in, or the build's repo" }),
    ref: t.exposeString('ref'),
    commit: t.exposeString('commit'),
    state: t.field({ type: BundleStateEnum, resolve: (b) => b.state }),
    error: t.exposeString('error', { nullable: true }),
    size: t.float({ nullable: true, description: 'bytes, once READY', resolve: (b) => (b.size === null ? null : Number(b.size)) }),
    fileName: t.string({ description: '<app-id>.flatpak', resolve: (b) => `${b.ref.split('/')[1]}.flatpak` }),
    url: t.string({
      nullable: true,
      description: 'where to download it (HTTP GET with Range; the same token as for downloading the ref): absolute once base-url is configured, else the path; null until READY',
      resolve: (b, _a, ctx) => (b.state === 'READY' ? ctx.services.bundles.url(b) : null),
    }),
    job: t.prismaField({
      type: 'Job',
      nullable: true,
      description: 'its latest bundle job (null when you may not read it)',
      resolve: (query, b, _a, ctx) => (b.jobId === null ? null : ctx.services.prisma.job.findFirst({ ...query, where: { AND: [{ id: b.jobId }, readableJobsWhere(ctx.viewer)] } })),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    readyAt: t.expose('readyAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.objectField(BuildNode, 'bundles', (t) =>
  t.field({
    type: [BundleRef],
    description: "bundles requested of this build's refs (empty when you may not download the build)",
    resolve: (b, _a, ctx) => ctx.services.bundles.ofBuild(b.id, asker(ctx)),
  }),
);

builder.objectField(RepoRefRef, 'bundle', (t) =>
  t.field({
    type: BundleRef,
    nullable: true,
    description: "the bundle of this ref's commit, once requested (null before, or when you may not download the ref)",
    resolve: (r, _a, ctx) => hidden(ctx.services.bundles.ofPublishedRef(r.repo, r, asker(ctx))),
  }),
);

builder.queryField('bundle', (t) =>
  t.field({
    type: BundleRef,
    nullable: true,
    description: 'A bundle by number (null when unknown or you may not download what it holds).',
    authScopes: { authenticated: true },
    args: { number: t.arg.int({ required: true }) },
    resolve: (_r, args, ctx) => hidden(ctx.services.bundles.get(args.number, asker(ctx))),
  }),
);

const RequestBundleInput = builder.inputType('RequestBundleInput', {
  description: 'A build (and one of its refs; default: its app ref) or a repo and a ref published in it.',
  fields: (t) => ({
    build: t.int({ description: 'build number: bundle a committed build from its build repo' }),
    repo: t.string({ description: 'repo name: bundle a published ref (needs `ref`)' }),
    ref: t.string({ description: 'app/ID/ARCH/BRANCH or runtime/ID/ARCH/BRANCH' }),
  }),
});

const RequestBundlePayload = builder.objectRef<{ bundle: Bundle; job: Job | null }>('RequestBundlePayload').implement({
  fields: (t) => ({
    bundle: t.field({ type: BundleRef, resolve: (p) => p.bundle }),
    job: t.prismaField({
      type: 'Job',
      nullable: true,
      description: 'the bundle job making it (null when you may not read it, or the bundle was ready)',
      resolve: (query, p, _a, ctx) =>
        p.job === null || p.bundle.state === 'READY' ? null : ctx.services.prisma.job.findFirst({ ...query, where: { AND: [{ id: p.job.id }, readableJobsWhere(ctx.viewer)] } }),
    }),
  }),
});

builder.mutationField('requestBundle', (t) =>
  t.field({
    type: RequestBundlePayload,
    description:
      'Asks for the .flatpak bundle of a committed build or a published ref: answers the bundle made already, or queues the bundle job that makes it (once, however many ask). Needs the rights to download what it holds.',
    authScopes: { authenticated: true },
    errors: { types: [NotFoundError, InvalidInputError, ForbiddenError, WrongStateError] },
    args: { input: t.arg({ type: RequestBundleInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const hasBuild = input.build !== null && input.build !== undefined;
      const hasRepo = input.repo !== null && input.repo !== undefined;
      if (hasBuild === hasRepo) throw new InvalidInputError('give either build or repo', hasBuild ? 'repo' : 'build');
      if (hasBuild) return ctx.services.bundles.request({ build: input.build!, ref: input.ref ?? null }, asker(ctx));
      if (!input.ref) throw new InvalidInputError('a published ref needs ref (app/ID/ARCH/BRANCH)', 'ref');
      return ctx.services.bundles.request({ repo: input.repo!, ref: input.ref }, asker(ctx));
    },
  }),
);
