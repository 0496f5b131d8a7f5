// Jobs: list and read, follow status and logs live, cancel.
import { builder } from './builder.ts';
import { countFor, startCount } from './connections.ts';
import type { Job } from '../generated/prisma/client.ts';
import { NotFoundError } from '../domain/errors.ts';
import { jobKinds } from '../domain/jobs/queue.ts';
import { jobStatusCode } from '../domain/jobs/service.ts';
import { visibleJobsWhere } from '../domain/jobs/access.ts';
import type { GraphQLContext } from './context.ts';

export const JobStatusEnum = builder.enumType('JobStatus', {
  description: 'flat-manager job status: NEW 0, STARTED 1, ENDED 2, BROKEN 3',
  values: ['NEW', 'STARTED', 'ENDED', 'BROKEN'] as const,
});

const LogChunk = builder.objectRef<{ offset: number; text: string }>('JobLogChunk').implement({
  description: 'A piece of a job log: `text` starts at byte `offset` (UTF-8) of the whole log.',
  fields: (t) => ({
    offset: t.exposeInt('offset'),
    text: t.exposeString('text'),
    nextOffset: t.int({ resolve: (c) => c.offset + Buffer.byteLength(c.text, 'utf8') }),
  }),
});

export const JobRef = builder.prismaNode('Job', {
  id: { field: 'id' },
  fields: (t) => ({
    number: t.exposeInt('id', { description: 'the job id on the flat-manager REST API' }),
    kind: t.exposeString('kind'),
    status: t.field({ type: JobStatusEnum, resolve: (j) => j.status }),
    statusCode: t.int({ description: 'flat-manager wire code', resolve: (j) => jobStatusCode[j.status] }),
    repo: t.exposeString('repo', { nullable: true }),
    contents: t.expose('contents', { type: 'JSON' }),
    results: t.expose('results', { type: 'JSON', nullable: true }),
    error: t.exposeString('error', { nullable: true }),
    progress: t.exposeFloat('progress', { nullable: true }),
    progressMessage: t.exposeString('progressMessage', { nullable: true }),
    attempts: t.exposeInt('attempts'),
    maxAttempts: t.exposeInt('maxAttempts'),
    cancelRequested: t.exposeBoolean('cancelRequested'),
    logSize: t.exposeInt('logSize', { description: 'bytes of log so far: the offset the next line will have' }),
    startAfter: t.expose('startAfter', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    dependsOn: t.relation('dependsOn', { nullable: true }),
    log: t.field({
      type: LogChunk,
      description: 'the log from byte `offset` on',
      args: { offset: t.arg.int({ defaultValue: 0 }) },
      resolve: async (j, args, ctx) => ({ offset: args.offset ?? 0, text: await ctx.services.jobRecords.log(j.id, args.offset ?? 0) }),
    }),
  }),
});

const readers = { anyScope: ['jobs', 'admin', 'build'] } as const;

builder.queryField('jobs', (t) =>
  t.prismaConnection({
    type: 'Job',
    cursor: 'id',
    description: 'Jobs, newest first.',
    authScopes: readers,
    args: {
      kind: t.arg.string({ description: `one of ${jobKinds.join(', ')}` }),
      status: t.arg({ type: JobStatusEnum }),
      repo: t.arg.string(),
    },
    totalCount: (_root, args, ctx, info) => countFor(info, () => ctx.services.prisma.job.count({ where: jobsWhere(ctx, args) })),
    resolve: (query, _root, args, ctx, info) => {
      const where = jobsWhere(ctx, args);
      startCount(info, () => ctx.services.prisma.job.count({ where }));
      return ctx.services.prisma.job.findMany({ ...query, where, orderBy: { id: 'desc' } });
    },
  }),
);

function jobsWhere(ctx: GraphQLContext, args: Parameters<GraphQLContext['services']['jobRecords']['where']>[0]) {
  return { AND: [ctx.services.jobRecords.where(args), visibleJobsWhere(ctx.viewer!)] };
}

builder.queryField('job', (t) =>
  t.prismaField({
    type: 'Job',
    nullable: true,
    authScopes: readers,
    args: { number: t.arg.int({ required: true }) },
    resolve: (query, _root, args, ctx) => ctx.services.prisma.job.findFirst({ ...query, where: { AND: [{ id: args.number }, visibleJobsWhere(ctx.viewer!)] } }),
  }),
);

const CancelJobInput = builder.inputType('CancelJobInput', { fields: (t) => ({ number: t.int({ required: true }) }) });
const CancelJobPayload = builder.objectRef<{ job: Job }>('CancelJobPayload').implement({
  fields: (t) => ({ job: t.field({ type: JobRef, resolve: (p) => p.job }) }),
});

builder.mutationField('cancelJob', (t) =>
  t.field({
    type: CancelJobPayload,
    description: 'Cancels a queued job, or asks a running one to stop at its next checkpoint.',
    authScopes: { anyScope: ['admin', 'jobs'] },
    errors: { types: [NotFoundError] },
    args: { input: t.arg({ type: CancelJobInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      return { job: await ctx.services.jobs.cancel(input.number) };
    },
  }),
);

builder.subscriptionField('jobUpdated', (t) =>
  t.field({
    type: JobRef,
    description: 'The job now, then each time its status or progress changes, until it is over.',
    args: { number: t.arg.int({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      const viewer = ctx.requireAnyScope(['jobs', 'admin', 'build']);
      await ctx.services.jobRecords.getFor(viewer, args.number);
      return ctx.services.jobRecords.updates(args.number);
    },
    resolve: (job) => job,
  }),
);

builder.subscriptionField('jobLog', (t) =>
  t.field({
    type: LogChunk,
    description: 'Replays the log from `fromOffset`, then streams new lines until the job is over; no gaps, no duplicates.',
    args: { number: t.arg.int({ required: true }), fromOffset: t.arg.int({ defaultValue: 0 }) },
    subscribe: async (_root, args, ctx) => {
      const viewer = ctx.requireAnyScope(['jobs', 'admin', 'build']);
      await ctx.services.jobRecords.getFor(viewer, args.number);
      return ctx.services.jobRecords.follow(args.number, args.fromOffset ?? 0);
    },
    resolve: (chunk) => chunk,
  }),
);

builder.subscriptionField('jobsUpdated', (t) =>
  t.field({
    type: JobRef,
    description: 'Each job your token may read (`jobs`) when its status or progress changes.',
    subscribe: (_root, _args, ctx) => {
      const viewer = ctx.requireAnyScope(['jobs', 'admin', 'build']);
      return ctx.services.jobRecords.allUpdates(viewer);
    },
    resolve: (job) => job,
  }),
);
