// The build state machine, as pure rules: which (state, published state) pairs each step may start
// from, where it leads, and the flat-manager error a request in any other state gets. The service
// and the jobs apply a step with one conditional UPDATE whose WHERE is `whereFrom(step)`, so the
// rule checked up front and the rule the database enforces against races are the same rule.
import type { BuildState, PublishedState } from '../../generated/prisma/client.ts';
import type { DomainError } from '../errors.ts';
import { BuildBusyError, stateName, WrongStateError } from './states.ts';

export type BuildStatus = { state: BuildState; publishedState: PublishedState; stateReason: string | null };

/** What a step writes. */
export type BuildChange = { state?: BuildState; stateReason?: string | null; publishedState?: PublishedState };

/** Every step of a build's life: requests (upload, commit, publish, purge) and the ends of their work. */
export type BuildStep =
  | { step: 'upload' }
  | { step: 'commit' }
  | { step: 'committed'; checks: number }
  | { step: 'commit-failed'; reason: string }
  | { step: 'checks-over'; failed: string[] }
  | { step: 'publish' }
  | { step: 'published' }
  | { step: 'publish-failed' }
  | { step: 'purge' }
  | { step: 'purged' }
  | { step: 'purge-failed'; reason: string }
  // git builds: WAITING -> CLONING -> BUILDING -> UPLOADING (refs recorded), then the steps above
  | { step: 'wait'; reason: string }
  | { step: 'clone' }
  | { step: 'build' }
  | { step: 'built' }
  | { step: 'build-failed'; reason: string }
  | { step: 'cancel'; reason: string }
  | { step: 'supersede'; reason: string }
  // a READY build never published (or whose publish failed) that a newer build of its app, published in its repo, replaced
  | { step: 'supersede-ready'; reason: string };
export type BuildStepName = BuildStep['step'];

export const buildStates: readonly BuildState[] = [
  'WAITING',
  'CLONING',
  'BUILDING',
  'UPLOADING',
  'COMMITTING',
  'VALIDATING',
  'READY',
  'FAILED',
  'CANCELLED',
  'SUPERSEDED',
  'PURGING',
  'PURGED',
];
/** A git build before its refs exist: what cancel and supersede may stop. */
export const gitBuildingStates: readonly BuildState[] = ['WAITING', 'CLONING', 'BUILDING'];
export const publishedStates: readonly PublishedState[] = ['UNPUBLISHED', 'PUBLISHING', 'PUBLISHED', 'FAILED'];

type From = { state: readonly BuildState[]; publishedState: readonly PublishedState[] };
const anyPublished = publishedStates;
const except = <T>(all: readonly T[], ...out: T[]) => all.filter((x) => !out.includes(x));

/** The states each step may start from. */
const from: Record<BuildStepName, From> = {
  upload: { state: ['UPLOADING'], publishedState: anyPublished },
  commit: { state: ['UPLOADING'], publishedState: anyPublished },
  committed: { state: ['COMMITTING'], publishedState: anyPublished },
  'commit-failed': { state: ['COMMITTING'], publishedState: anyPublished },
  'checks-over': { state: ['VALIDATING'], publishedState: anyPublished },
  // fmd leniency: a failed publish may be published again.
  publish: { state: ['READY'], publishedState: ['UNPUBLISHED', 'FAILED'] },
  published: { state: buildStates, publishedState: ['PUBLISHING'] },
  'publish-failed': { state: buildStates, publishedState: ['PUBLISHING'] },
  // Not while a job works on the build's files; a purged build may be purged again (nothing to do).
  purge: { state: except(buildStates, 'COMMITTING', 'PURGING', ...gitBuildingStates), publishedState: except(publishedStates, 'PUBLISHING') },
  purged: { state: ['PURGING'], publishedState: anyPublished },
  'purge-failed': { state: ['PURGING'], publishedState: anyPublished },
  // A running git build goes back to waiting (a worker that cannot build it handed it back).
  wait: { state: ['WAITING', 'CLONING', 'BUILDING'], publishedState: ['UNPUBLISHED'] },
  clone: { state: ['WAITING'], publishedState: ['UNPUBLISHED'] },
  build: { state: ['CLONING'], publishedState: ['UNPUBLISHED'] },
  built: { state: ['BUILDING'], publishedState: ['UNPUBLISHED'] },
  'build-failed': { state: gitBuildingStates, publishedState: ['UNPUBLISHED'] },
  cancel: { state: gitBuildingStates, publishedState: ['UNPUBLISHED'] },
  supersede: { state: gitBuildingStates, publishedState: ['UNPUBLISHED'] },
  'supersede-ready': { state: ['READY'], publishedState: ['UNPUBLISHED', 'FAILED'] },
};

export function allows(b: Pick<BuildStatus, 'state' | 'publishedState'>, step: BuildStepName): boolean {
  const f = from[step];
  return f.state.includes(b.state) && f.publishedState.includes(b.publishedState);
}

/** The WHERE that applies `step` only to a build still in a state it may start from. */
export function whereFrom(step: BuildStepName): { state?: { in: BuildState[] }; publishedState?: { in: PublishedState[] } } {
  const f = from[step];
  return {
    ...(f.state.length < buildStates.length ? { state: { in: [...f.state] } } : {}),
    ...(f.publishedState.length < publishedStates.length ? { publishedState: { in: [...f.publishedState] } } : {}),
  };
}

/** What `step` writes, from a state it may start from. */
export function change(s: BuildStep): BuildChange {
  switch (s.step) {
    case 'upload':
      return {};
    case 'commit':
      return { state: 'COMMITTING' };
    case 'committed':
      return { state: s.checks > 0 ? 'VALIDATING' : 'READY' };
    case 'commit-failed':
      return { state: 'FAILED', stateReason: s.reason };
    case 'checks-over':
      return s.failed.length ? { state: 'FAILED', stateReason: `check ${s.failed.join(', ')} failed` } : { state: 'READY' };
    case 'publish':
      return { publishedState: 'PUBLISHING' };
    case 'published':
      return { publishedState: 'PUBLISHED' };
    case 'publish-failed':
      return { publishedState: 'FAILED' };
    case 'purge':
      return { state: 'PURGING' };
    case 'purged':
      return { state: 'PURGED' };
    case 'purge-failed':
      return { state: 'FAILED', stateReason: `Failed to Purge build: ${s.reason}` };
    case 'wait':
      return { state: 'WAITING', stateReason: s.reason };
    case 'clone':
      return { state: 'CLONING', stateReason: null };
    case 'build':
      return { state: 'BUILDING' };
    case 'built':
      return { state: 'UPLOADING' };
    case 'build-failed':
      return { state: 'FAILED', stateReason: s.reason };
    case 'cancel':
      return { state: 'CANCELLED', stateReason: s.reason };
    case 'supersede':
    case 'supersede-ready':
      return { state: 'SUPERSEDED', stateReason: s.reason };
  }
}

/** The error a request gets in a state it may not start from (flat-manager's words); null when it may. */
export function refusal(b: BuildStatus, step: BuildStepName): DomainError | null {
  if (allows(b, step)) return null;
  const rs = stateName(b.state);
  const ps = stateName(b.publishedState);
  switch (step) {
    case 'upload':
      return new WrongStateError('repo', `Build is ${rs}, uploads are closed`, 'uploading', rs);
    case 'commit': {
      const message =
        b.state === 'COMMITTING' ? 'Build is currently being commited'
        : b.state === 'READY' || b.state === 'VALIDATING' ? 'Build is already commited'
        : b.state === 'FAILED' ? `Commit already failed: ${b.stateReason ?? 'Unknown reason'}`
        : b.state === 'PURGING' || b.state === 'PURGED' ? 'Build has been purged'
        : gitBuildingStates.includes(b.state) ? `Build is ${rs}: its refs are not built yet`
        : wasStopped(b);
      return new WrongStateError('repo', message, 'uploading', rs);
    }
    case 'publish':
      if (b.publishedState === 'PUBLISHING') return new WrongStateError('published', 'Build is currently being published', 'unpublished', ps);
      if (b.publishedState === 'PUBLISHED') return new WrongStateError('published', 'Build has already been published', 'unpublished', ps);
      if (b.state === 'FAILED') return new WrongStateError('repo', `Build failed: ${b.stateReason ?? 'Unknown reason'}`, 'ready', rs);
      if (b.state === 'PURGING' || b.state === 'PURGED') return new WrongStateError('repo', 'Build has been purged', 'ready', rs);
      if (b.state === 'CANCELLED' || b.state === 'SUPERSEDED') return new WrongStateError('repo', wasStopped(b), 'ready', rs);
      return new WrongStateError('repo', 'Build is not commited', 'ready', rs);
    case 'purge':
      if (gitBuildingStates.includes(b.state) && b.publishedState !== 'PUBLISHING') return new BuildBusyError(`Build is ${rs}: cancel it before purging`);
      return new BuildBusyError("Can't prune build while in use");
    case 'cancel':
    case 'supersede':
      return new WrongStateError('repo', `Build is ${rs}: only a git build that is waiting, cloning or building can be ${step === 'cancel' ? 'cancelled' : 'superseded'}`, 'waiting|cloning|building', rs);
    default:
      // The ends of a job's work: the job finds the build moved on (cancelled, purged, reconciled).
      return new WrongStateError('repo', `Build is ${rs} (published: ${ps}); ${step} does not apply`, from[step].state.map(stateName).join('|'), rs);
  }
}

/** "Build was superseded by build 12", "Build was cancelled: too slow": the reason said once. */
function wasStopped(b: BuildStatus): string {
  const rs = stateName(b.state);
  if (b.stateReason?.toLowerCase().startsWith(`${rs} `)) return `Build was ${b.stateReason}`;
  return `Build was ${rs}: ${b.stateReason ?? 'no reason given'}`;
}

/** `refusal` as a guard. */
export function requireStep(b: BuildStatus, step: BuildStepName): void {
  const err = refusal(b, step);
  if (err) throw err;
}
