// `@fmd/sdk/push` (Node only): flat-manager's upload protocol and build/job REST calls, for
// `fmdc push` and any tool that pushes OSTree commits to fmd or flat-manager.
export { pushRepo, PushError, type PushErrorKind, type PushOptions, type PushPhase, type PushProgress, type PushResult } from './push.ts';
export {
  apiUrlOf,
  FlatManagerError,
  FlatManagerRestClient,
  JOB_STATUS,
  jobResults,
  parseBuildUrl,
  type BuildLocation,
  type FlatManagerErrorKind,
  type FlatManagerJob,
  type FollowedJob,
  type FollowJobOptions,
  type RestResponse,
} from './rest.ts';
