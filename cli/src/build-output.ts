// How builds and jobs read in the terminal: the columns of `build list` and `job list`, the
// blocks of `build show` and `job show`, and the REST URL `fmdc push` takes.
import { details, table, when, type Column } from './output.ts';

/** What the build commands show of a build (the SDK's build fields have at least this). */
export type ShownBuild = {
  number: number;
  state: string;
  stateReason?: string | null;
  publishedState: string;
  appId?: string | null;
  createdAt: string;
  updatedAt?: string;
  buildLogUrl?: string | null;
  repo: { name: string };
  source?: {
    url: string;
    ref: string;
    commit?: string | null;
    manifestPath?: string | null;
    arch: string;
    branch?: string | null;
    autoCommit: boolean;
    autoPublish?: boolean | null;
    runtime?: string | null;
    sdk?: string | null;
  } | null;
  refs?: Array<{ name: string; commit: string }>;
};

export type ShownJob = {
  number: number;
  kind: string;
  status: string;
  repo?: string | null;
  error?: string | null;
  progress?: number | null;
  progressMessage?: string | null;
  createdAt: string;
  startedAt?: string | null;
  finishedAt?: string | null;
  cancelRequested?: boolean;
  logSize?: number;
};

/** `ready` or `ready, published` */
export function buildStatus(b: Pick<ShownBuild, 'state' | 'publishedState'>): string {
  return b.publishedState === 'UNPUBLISHED' ? b.state.toLowerCase() : `${b.state.toLowerCase()}, ${b.publishedState.toLowerCase()}`;
}

function origin(b: ShownBuild): string {
  return b.source ? `${b.source.url}${b.source.ref !== 'HEAD' ? `@${b.source.ref}` : ''}` : 'upload';
}

export const buildColumns: Column<ShownBuild>[] = [
  { header: 'build', get: (b) => b.number, right: true },
  { header: 'repo', get: (b) => b.repo.name },
  { header: 'app', get: (b) => b.appId },
  { header: 'state', get: buildStatus },
  { header: 'created', get: (b) => when(b.createdAt) },
  { header: 'source', get: origin },
];

export const jobColumns: Column<ShownJob>[] = [
  { header: 'job', get: (j) => j.number, right: true },
  { header: 'kind', get: (j) => j.kind },
  { header: 'status', get: (j) => j.status.toLowerCase() + (j.cancelRequested && j.status !== 'BROKEN' ? ' (cancelling)' : '') },
  { header: 'repo', get: (j) => j.repo },
  { header: 'created', get: (j) => when(j.createdAt) },
  { header: 'error', get: (j) => j.error?.split('\n')[0] },
];

/** The flat-manager REST URL of a build: what `fmdc push` and flat-manager-client take. */
export function buildUrl(endpoint: string, number: number): string {
  return new URL(`api/v1/build/${number}`, endpoint.replace(/graphql\/?$/, '')).toString();
}

export function buildDetails(b: ShownBuild, endpoint: string): string {
  const s = b.source;
  const lines = [
    details({
      build: b.number,
      repo: b.repo.name,
      app: b.appId,
      state: buildStatus(b),
      reason: b.stateReason,
      created: when(b.createdAt),
      updated: when(b.updatedAt),
      url: buildUrl(endpoint, b.number),
      'build log': b.buildLogUrl,
      ...(s
        ? {
            git: s.url,
            ref: s.ref,
            commit: s.commit,
            manifest: s.manifestPath,
            arch: s.arch,
            branch: s.branch,
            runtime: s.runtime,
            sdk: s.sdk,
            'auto-commit': s.autoCommit ? 'yes' : 'no',
            'auto-publish': s.autoPublish === null || s.autoPublish === undefined ? "the repo's policy" : s.autoPublish ? 'yes' : 'no',
          }
        : {}),
    }),
  ];
  if (b.refs?.length) lines.push('', table(b.refs, [{ header: 'ref', get: (r) => r.name }, { header: 'commit', get: (r) => r.commit }]));
  return lines.join('\n');
}

export function jobDetails(j: ShownJob): string {
  return details({
    job: j.number,
    kind: j.kind,
    status: j.status.toLowerCase(),
    repo: j.repo,
    progress: j.progress === null || j.progress === undefined ? undefined : `${Math.round(j.progress * 100)}%${j.progressMessage ? ` ${j.progressMessage}` : ''}`,
    'cancel requested': j.cancelRequested ? 'yes' : undefined,
    created: when(j.createdAt),
    started: j.startedAt ? when(j.startedAt) : undefined,
    finished: j.finishedAt ? when(j.finishedAt) : undefined,
    'log bytes': j.logSize,
    error: j.error,
  });
}
