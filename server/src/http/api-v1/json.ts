// flat-manager's JSON shapes: builds, build refs, checks and jobs as its serde models
// serialize them (snake_case fields, numeric states, NaiveDateTime without a zone, optional
// fields left out when empty, `contents`/`results` as JSON strings).
import type { BuildRef, Check, Job } from '../../generated/prisma/client.ts';
import type { BuildDetails } from '../../domain/builds/service.ts';
import { jobKindCode, publishedStateCode, repoStateCode, stateName } from '../../domain/builds/states.ts';
import { jobStatusCode } from '../../domain/jobs/service.ts';

/** chrono::NaiveDateTime's serde form: ISO 8601 without the zone. */
export function naiveDate(d: Date): string {
  return d.toISOString().replace(/Z$/, '');
}

export function buildJson(b: BuildDetails): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: b.id,
    created: naiveDate(b.createdAt),
    repo_state: repoStateCode[b.state],
  };
  // Also for a waiting git build: what it waits for (flat-manager clients read the reason of failed builds only).
  if ((repoStateCode[b.state] === repoStateCode.FAILED || b.state === 'WAITING') && b.stateReason) out.repo_state_reason = b.stateReason;
  // fmd's precise state (lower case), for states flat-manager has no code for (see repoStateCode).
  out.state = stateName(b.state);
  out.published_state = publishedStateCode[b.publishedState];
  if (b.publishedState === 'FAILED') out.published_state_reason = b.publishJob?.error ?? 'Unknown reason';
  if (b.commitJob) out.commit_job_id = b.commitJob.id;
  if (b.publishJob) out.publish_job_id = b.publishJob.id;
  // fmd's git builds: the job whose log (GET /api/v1/job/<id>) is the build's output.
  if (b.gitBuildJob) out.git_build_job_id = b.gitBuildJob.id;
  out.repo = b.repo.name;
  out.extra_ids = (b.extraIds as string[] | null) ?? [];
  out.app_id = b.appId;
  out.public_download = b.publicDownload;
  out.build_log_url = b.buildLogUrl;
  out.builder_id = null;
  return out;
}

export function buildRefJson(r: BuildRef): Record<string, unknown> {
  return { id: r.id, build_id: r.buildId, ref_name: r.refName, commit: r.commit, build_log_url: r.buildLogUrl };
}

const checkStatusCode: Record<Check['status'], number> = { PENDING: 0, PASSED: 1, FAILED: 3, REVIEW_REQUIRED: 4 };

export function checkJson(c: Check): Record<string, unknown> {
  const results = c.results as { reason?: string; results?: string } | null;
  return {
    check_name: c.name,
    build_id: c.buildId,
    job_id: c.jobId,
    status: checkStatusCode[c.status],
    status_reason: results?.reason ?? null,
    results: results?.results ?? null,
  };
}

/** std::time::SystemTime's serde form. */
function systemTime(d: Date | null): Record<string, number> | null {
  if (!d) return null;
  const ms = d.getTime();
  return { secs_since_epoch: Math.floor(ms / 1000), nanos_since_epoch: (ms % 1000) * 1_000_000 };
}

export function jobJson(job: Job, log: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: job.id,
    kind: jobKindCode[job.kind] ?? -1,
    status: jobStatusCode[job.status],
    contents: JSON.stringify(job.contents ?? {}),
  };
  if (job.results != null) out.results = JSON.stringify(job.results);
  else if (job.status === 'BROKEN') out.results = JSON.stringify({ error: job.error ?? 'failed' });
  out.log = log;
  out.start_after = systemTime(job.startAfter);
  out.repo = job.repo;
  return out;
}
