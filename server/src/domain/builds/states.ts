// flat-manager's build state machine as it appears on the wire: numeric codes, lower-case
// state names in errors, and the errors a wrong state answers with.
import type { BuildState, CheckStatus, PublishedState } from '../../generated/prisma/client.ts';
import { DomainError } from '../errors.ts';
import type { JobKind } from '../jobs/queue.ts';

/**
 * repo_state: Uploading 0, Committing 1, Ready 2, Failed 3, Purging 4, Purged 5, Validating 6.
 * fmd's git build states have no code in flat-manager: they answer the nearest one (a build whose
 * refs are still coming is uploading; one that ended without them failed), and the REST build
 * JSON carries the precise state beside it (`state`), so flat-manager clients polling such a build
 * keep waiting or stop as they should.
 */
export const repoStateCode: Record<BuildState, number> = {
  UPLOADING: 0,
  COMMITTING: 1,
  READY: 2,
  FAILED: 3,
  PURGING: 4,
  PURGED: 5,
  VALIDATING: 6,
  WAITING: 0,
  CLONING: 0,
  BUILDING: 0,
  CANCELLED: 3,
  SUPERSEDED: 3,
};

/** published_state: Unpublished 0, Publishing 1, Published 2, Failed 3. */
export const publishedStateCode: Record<PublishedState, number> = { UNPUBLISHED: 0, PUBLISHING: 1, PUBLISHED: 2, FAILED: 3 };

/**
 * flat-manager's job kinds; fmd's own kinds get codes after them. 6 is flat-manager's purge job,
 * which fmd has not: a purge happens in the request, as in flat-manager today.
 */
export const jobKindCode: Record<string, number> = {
  commit: 0,
  publish: 1,
  'update-repo': 2,
  republish: 3,
  check: 4,
  prune: 5,
  'delete-repo': 7,
  noop: 8,
  promote: 9,
  'git-build': 10,
  'webhook-deliver': 11,
  'retention-sweep': 12,
  'repo-fsck': 13,
  bundle: 14,
} satisfies Record<JobKind, number>;

/** flat-manager's CheckStatus tags (review_check's `new-status.status`). */
export const checkStatusFromWire: Record<string, CheckStatus> = {
  Pending: 'PENDING',
  Passed: 'PASSED',
  PassedWithWarnings: 'PASSED',
  Failed: 'FAILED',
  ReviewRequired: 'REVIEW_REQUIRED',
};

export const stateName = (s: BuildState | PublishedState): string => s.toLowerCase();

/**
 * A request that needs the build in another state. `errorType` tells the repo
 * state from the published state; clients read `current-state` (flat-manager-client treats a
 * publish answered with current-state "published" as done).
 */
export class WrongStateError extends DomainError {
  readonly currentState: string;
  readonly expectedState: string;
  constructor(kind: 'repo' | 'published', message: string, expected: string, current: string) {
    super(kind === 'repo' ? 'wrong-repo-state' : 'wrong-published-state', message);
    this.currentState = current;
    this.expectedState = expected;
  }
}

/** The build is in use by a running job: a conflict that is not a state. */
export class BuildBusyError extends DomainError {
  constructor(message: string) {
    super('build-busy', message);
  }
}

/** The disk that holds the upload repos is (almost) full. */
export class InsufficientStorageError extends DomainError {
  constructor(message: string) {
    super('insufficient-storage', message);
  }
}
