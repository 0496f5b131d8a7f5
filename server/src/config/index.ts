// The one typed configuration of fmd: a JSON or YAML file (flat-manager's key names where the
// concept exists) overlaid by environment variables. Nothing else in fmd reads process.env.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import YAML from 'yaml';

// A relative data-dir is relative to the repository root, not to the working directory: npm runs
// the server, the worker and the scripts in the server workspace, start.sh from the root, and
// they must all find the same data.
const repoRoot = path.resolve(import.meta.dirname, '../../..');

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const configSchema = z
  .object({
    /** relative paths are resolved against the repository root */
    'data-dir': z.string().min(1).default('./data'),
    /** mysql://user:pass@host:port/db; absent = embedded MariaDB under data-dir */
    'database-url': z.url({ protocol: /^(mysql|mariadb)$/ }).optional(),
    host: z.string().default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** public URL of this server, used in Location headers and .flatpakrepo files */
    'base-url': z.url().optional(),
    /** flat-manager: base URL under which build repos are served */
    'build-repo-base': z.url().optional(),
    /** flat-manager: base64 HMAC secret for API tokens; generated into data-dir when absent */
    secret: z.string().min(1).optional(),
    /** flat-manager: base64 secret for repo download tokens (defaults to secret) */
    'repo-secret': z.string().min(1).optional(),
    /** the secret before a rotation: tokens it signed keep verifying until `previous-secret-until` */
    'previous-secret': z.string().min(1).optional(),
    'previous-secret-until': z.coerce.date().optional(),
    /** encrypts signing keys at rest (any long random string); generated into data-dir when absent */
    'master-key': z.string().min(16).optional(),
    /** flat-manager: seconds an update-repo job waits to batch publishes */
    'delay-update-secs': z.coerce.number().int().min(0).default(0),
    /** prefix a client may put before the JWT in Authorization headers */
    'token-prefix': z.string().default(''),
    'log-level': z.enum(logLevels).default('info'),
    'cors-origins': z.array(z.string()).default([]),
    /** the built web dashboard served at / (`npm run -w @fmd/web build`; `npm start` builds it) */
    'web-dir': z.string().default('web/dist'),
    /** other fmd servers (origins) the dashboard served here may sign in to: its Content-Security-Policy lets it connect to these besides its own */
    'web-connect-origins': z.array(z.url({ protocol: /^https?$/ })).default([]),
    redis: z.string().optional(),
    'max-query-depth': z.coerce.number().int().min(1).default(12),
    'max-query-cost': z.coerce.number().int().min(1).default(5000),
    'max-request-bytes': z.coerce.number().int().min(1024).default(1024 * 1024),
    /** GraphQL operations (subscriptions, and queries while they run) one WebSocket may have open at once */
    'max-subscriptions-per-socket': z.coerce.number().int().min(1).default(100),
    /** time a client has to send one whole request, headers and body (0 = unlimited); responses may take longer */
    'request-timeout-ms': z.coerce.number().int().min(0).default(300_000),
    /** time a client has to send the request headers */
    'headers-timeout-ms': z.coerce.number().int().min(100).default(30_000),
    /** authentication failures (missing, bad, expired, revoked tokens) one client IP may have per auth-failure-window-secs; 0 = no limit */
    'auth-failure-limit': z.coerce.number().int().min(0).default(20),
    'auth-failure-window-secs': z.coerce.number().int().min(1).default(60),
    /** upload requests (POST /api/v1/build/<id>/upload) one token may make per upload-window-secs; 0 = no limit */
    'upload-requests-per-token': z.coerce.number().int().min(0).default(10_000),
    /** upload requests one client IP may make per upload-window-secs, whatever the token; 0 = no limit */
    'upload-requests-per-ip': z.coerce.number().int().min(0).default(20_000),
    /** bytes one token may upload per upload-window-secs; 0 = no limit */
    'upload-bytes-per-token': z.coerce.number().int().min(0).default(32 * 1024 ** 3),
    /** bytes one client IP may upload per upload-window-secs; 0 = no limit */
    'upload-bytes-per-ip': z.coerce.number().int().min(0).default(64 * 1024 ** 3),
    'upload-window-secs': z.coerce.number().int().min(1).default(60),
    /** serve /metrics on its own host:port (and not on the main port) */
    'metrics-listen': z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port')
      .optional(),
    /** require `Authorization: Bearer <metrics-token>` on /metrics */
    'metrics-token': z.string().min(16).optional(),
    /** job store: fmd's own MariaDB backend (default) or MongoDB via @agendajs/mongo-backend */
    'jobs-backend': z.enum(['mariadb', 'mongo']).default('mariadb'),
    /** mongodb://... when jobs-backend is mongo */
    'mongodb-url': z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URL').optional(),
    /** jobs this process runs at once; 0 = this process only queues (run `fmd worker` elsewhere) */
    'job-workers': z.coerce.number().int().min(0).max(64).default(4),
    /** a running job not heard from for this long is taken over by another worker */
    'job-lock-lifetime-ms': z.coerce.number().int().min(1000).default(60_000),
    'repo-lock-wait-secs': z.coerce.number().int().min(1).default(1800),
    /** poll interval of the job store (notifications start jobs sooner) */
    'job-poll-ms': z.coerce.number().int().min(50).default(5000),
    /** how often token last-used times are flushed to the database */
    'token-usage-flush-ms': z.coerce.number().int().min(10).default(5000),
    /** how long a token's revocation state is cached; bounds the staleness of revocations not made through fmd */
    'token-revocation-cache-ms': z.coerce.number().int().min(0).default(60_000),
    /** flatpak remotes the runtimes and SDKs of git builds are installed from (besides fmd's own repos) */
    'builder-remotes': z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, ".", "_" and "-"'),
            url: z.string().min(1),
            /** base64 of the remote's binary OpenPGP public key; absent = not GPG-verified */
            'gpg-key': z.string().min(1).optional(),
          })
          .strict(),
      )
      .default([]),
    /** URL schemes git builds may clone from; `file` only for local testing */
    'git-url-schemes': z.array(z.enum(['https', 'ssh', 'http', 'git', 'file'])).min(1).default(['https', 'ssh']),
    /** a git build running longer than this is stopped and cancelled */
    'build-timeout-secs': z.coerce.number().int().min(1).default(3600),
    /** a git build with no log output and no progress for this long is failed as stuck */
    'build-stall-secs': z.coerce.number().int().min(1).default(900),
    /** git builds one worker process runs at once */
    'max-builds-per-worker': z.coerce.number().int().min(1).max(64).default(1),
    /** arches this worker builds (default: the machine's) */
    'build-arches': z.array(z.string().regex(/^[A-Za-z0-9_]+$/)).min(1).optional(),
    /** how long the work dir of a failed git build is kept for inspection */
    'keep-failed-build-secs': z.coerce.number().int().min(0).default(86_400),
    /** how long a webhook receiver has to answer one delivery attempt */
    'webhook-timeout-ms': z.coerce.number().int().min(100).default(10_000),
    /** attempts per webhook delivery (the first included) */
    'webhook-attempts': z.coerce.number().int().min(1).max(20).default(5),
    /** the wait before a delivery's second attempt; each later one waits 5 times longer (capped at 6 h) */
    'webhook-retry-base-ms': z.coerce.number().int().min(1).default(10_000),
    /** lifetime of the access token a password sign-in (or a refresh) gives */
    'session-access-secs': z.coerce.number().int().min(10).max(86_400).default(900),
    /** lifetime of a sign-in's refresh token: the session ends when it has not been refreshed for this long */
    'session-refresh-secs': z.coerce.number().int().min(60).max(366 * 86_400).default(30 * 86_400),
    /** failed password sign-ins in a row that lock an account */
    'signin-max-failures': z.coerce.number().int().min(1).max(1000).default(5),
    /** how long a locked account stays locked */
    'signin-lockout-secs': z.coerce.number().int().min(1).max(30 * 86_400).default(900),
    /** how often the global retention sweep and each repo's build purge run (0 = never on a schedule) */
    'retention-interval-secs': z.coerce.number().int().min(0).max(366 * 86_400).default(86_400),
    /** the global sweep only reports what it would delete */
    'retention-dry-run': z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean()).default(false),
    /** git builders' per-app state dirs (module caches) beyond this many bytes lose the least recently used (0 = no budget) */
    'build-cache-budget-bytes': z.coerce.number().int().min(0).default(0),
    /** the logs of jobs that ended longer ago than this are deleted (0 = kept) */
    'job-log-retention-days': z.coerce.number().int().min(0).max(100_000).default(0),
    /** audit entries older than this are deleted (0 = kept) */
    'audit-retention-days': z.coerce.number().int().min(0).max(100_000).default(0),
    /** webhook deliveries that ended longer ago than this are deleted (0 = kept) */
    'webhook-delivery-retention-days': z.coerce.number().int().min(0).max(100_000).default(0),
  })
  .strict();

export type FmdConfig = {
  /** the file the config was read from (FMD_CONFIG), absolute; git builds' jail hides it */
  configFile: string | undefined;
  dataDir: string;
  databaseUrl: string | undefined;
  host: string;
  port: number;
  baseUrl: string | undefined;
  buildRepoBase: string | undefined;
  secret: string | undefined;
  repoSecret: string | undefined;
  /** a rotated-out token secret and the end of the window in which its tokens still verify */
  previousSecret: { secret: string; until: Date } | undefined;
  masterKey: string | undefined;
  delayUpdateSecs: number;
  tokenPrefix: string;
  logLevel: (typeof logLevels)[number];
  corsOrigins: string[];
  webDir: string;
  webConnectOrigins: string[];
  redis: string | undefined;
  maxQueryDepth: number;
  maxQueryCost: number;
  maxRequestBytes: number;
  maxSubscriptionsPerSocket: number;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  authFailureLimit: number;
  authFailureWindowSecs: number;
  uploadRequestsPerToken: number;
  uploadRequestsPerIp: number;
  uploadBytesPerToken: number;
  uploadBytesPerIp: number;
  uploadWindowSecs: number;
  metricsListen: { host: string; port: number } | undefined;
  metricsToken: string | undefined;
  tokenUsageFlushMs: number;
  tokenRevocationCacheMs: number;
  jobsBackend: 'mariadb' | 'mongo';
  mongodbUrl: string | undefined;
  jobWorkers: number;
  jobLockLifetimeMs: number;
  /** how long a repo job waits for the file lock of its repo (held by the tools of a job it takes over) before it fails */
  repoLockWaitSecs: number;
  jobPollMs: number;
  builderRemotes: Array<{ name: string; url: string; gpgKey: string | undefined }>;
  gitUrlSchemes: Array<'https' | 'ssh' | 'http' | 'git' | 'file'>;
  buildTimeoutSecs: number;
  buildStallSecs: number;
  maxBuildsPerWorker: number;
  buildArches: string[];
  keepFailedBuildSecs: number;
  webhookTimeoutMs: number;
  webhookAttempts: number;
  webhookRetryBaseMs: number;
  sessionAccessSecs: number;
  sessionRefreshSecs: number;
  signinMaxFailures: number;
  signinLockoutSecs: number;
  retentionIntervalSecs: number;
  retentionDryRun: boolean;
  buildCacheBudgetBytes: number;
  jobLogRetentionDays: number;
  auditRetentionDays: number;
  webhookDeliveryRetentionDays: number;
};

/** Environment variables that override file keys. */
const envKeys: Record<string, keyof z.input<typeof configSchema>> = {
  FMD_DATA_DIR: 'data-dir',
  DATABASE_URL: 'database-url',
  FMD_HOST: 'host',
  FMD_PORT: 'port',
  FMD_BASE_URL: 'base-url',
  FMD_BUILD_REPO_BASE: 'build-repo-base',
  FMD_SECRET: 'secret',
  FMD_REPO_SECRET: 'repo-secret',
  FMD_PREVIOUS_SECRET: 'previous-secret',
  FMD_PREVIOUS_SECRET_UNTIL: 'previous-secret-until',
  FMD_MASTER_KEY: 'master-key',
  FMD_DELAY_UPDATE_SECS: 'delay-update-secs',
  FMD_TOKEN_PREFIX: 'token-prefix',
  FMD_LOG_LEVEL: 'log-level',
  FMD_CORS_ORIGINS: 'cors-origins',
  FMD_WEB_DIR: 'web-dir',
  FMD_WEB_CONNECT_ORIGINS: 'web-connect-origins',
  FMD_REDIS_URL: 'redis',
  FMD_MAX_QUERY_DEPTH: 'max-query-depth',
  FMD_MAX_QUERY_COST: 'max-query-cost',
  FMD_MAX_REQUEST_BYTES: 'max-request-bytes',
  FMD_MAX_SUBSCRIPTIONS_PER_SOCKET: 'max-subscriptions-per-socket',
  FMD_REQUEST_TIMEOUT_MS: 'request-timeout-ms',
  FMD_HEADERS_TIMEOUT_MS: 'headers-timeout-ms',
  FMD_AUTH_FAILURE_LIMIT: 'auth-failure-limit',
  FMD_AUTH_FAILURE_WINDOW_SECS: 'auth-failure-window-secs',
  FMD_UPLOAD_REQUESTS_PER_TOKEN: 'upload-requests-per-token',
  FMD_UPLOAD_REQUESTS_PER_IP: 'upload-requests-per-ip',
  FMD_UPLOAD_BYTES_PER_TOKEN: 'upload-bytes-per-token',
  FMD_UPLOAD_BYTES_PER_IP: 'upload-bytes-per-ip',
  FMD_UPLOAD_WINDOW_SECS: 'upload-window-secs',
  FMD_METRICS_LISTEN: 'metrics-listen',
  FMD_METRICS_TOKEN: 'metrics-token',
  FMD_JOBS_BACKEND: 'jobs-backend',
  FMD_MONGODB_URL: 'mongodb-url',
  FMD_JOB_WORKERS: 'job-workers',
  FMD_JOB_LOCK_LIFETIME_MS: 'job-lock-lifetime-ms',
  FMD_REPO_LOCK_WAIT_SECS: 'repo-lock-wait-secs',
  FMD_JOB_POLL_MS: 'job-poll-ms',
  FMD_TOKEN_REVOCATION_CACHE_MS: 'token-revocation-cache-ms',
  FMD_GIT_URL_SCHEMES: 'git-url-schemes',
  FMD_BUILD_TIMEOUT_SECS: 'build-timeout-secs',
  FMD_BUILD_STALL_SECS: 'build-stall-secs',
  FMD_MAX_BUILDS_PER_WORKER: 'max-builds-per-worker',
  FMD_BUILD_ARCHES: 'build-arches',
  FMD_KEEP_FAILED_BUILD_SECS: 'keep-failed-build-secs',
  FMD_WEBHOOK_TIMEOUT_MS: 'webhook-timeout-ms',
  FMD_WEBHOOK_ATTEMPTS: 'webhook-attempts',
  FMD_WEBHOOK_RETRY_BASE_MS: 'webhook-retry-base-ms',
  FMD_SESSION_ACCESS_SECS: 'session-access-secs',
  FMD_SESSION_REFRESH_SECS: 'session-refresh-secs',
  FMD_SIGNIN_MAX_FAILURES: 'signin-max-failures',
  FMD_SIGNIN_LOCKOUT_SECS: 'signin-lockout-secs',
  FMD_RETENTION_INTERVAL_SECS: 'retention-interval-secs',
  FMD_RETENTION_DRY_RUN: 'retention-dry-run',
  FMD_BUILD_CACHE_BUDGET_BYTES: 'build-cache-budget-bytes',
  FMD_JOB_LOG_RETENTION_DAYS: 'job-log-retention-days',
  FMD_AUDIT_RETENTION_DAYS: 'audit-retention-days',
  FMD_WEBHOOK_DELIVERY_RETENTION_DAYS: 'webhook-delivery-retention-days',
};

/** Keys whose environment variable is a comma-separated list. */
const listKeys = new Set<string>(['cors-origins', 'web-connect-origins', 'git-url-schemes', 'build-arches']);

/** flatpak's name for the machine's arch (what `flatpak --default-arch` prints). */
export function machineArch(arch: string = process.arch): string {
  const names: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i386', arm: 'arm', ppc64: 'ppc64le', riscv64: 'riscv64', loong64: 'loongarch64', s390x: 's390x' };
  return names[arch] ?? arch;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

function readFile(file: string): Record<string, unknown> {
  const text = readFileSync(file, 'utf8');
  const parsed: unknown = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`${file}: the top level must be a mapping of keys to values`]);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Loads the config: `FMD_CONFIG` (or `configFile`) names a JSON/YAML file; env vars win.
 * `overrides` (kebab-case keys) win over both; tests use them.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<z.input<typeof configSchema>> = {},
): FmdConfig {
  const file = env.FMD_CONFIG;
  let raw: Record<string, unknown> = {};
  if (file) {
    if (!existsSync(file)) throw new ConfigError([`FMD_CONFIG: file ${file} does not exist`]);
    try {
      raw = readFile(file);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError([`${file}: cannot parse: ${(err as Error).message}`]);
    }
    // flat-manager configs carry repos and other sections fmd keeps in its database.
    for (const ignored of ['repos', 'database_url', 'build-repo-base-url', 'build-gpg-key', 'gpg-homedir', 'storefront-info-endpoint']) {
      delete raw[ignored];
    }
  }
  for (const [name, key] of Object.entries(envKeys)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    raw[key] = listKeys.has(key) ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  }
  Object.assign(raw, overrides);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const where = issue.path.length ? issue.path.join('.') : '(top level)';
        return `${where}: ${issue.message}`;
      }),
    );
  }
  const c = result.data;
  if (c['previous-secret'] && Buffer.from(c['previous-secret'], 'base64').length < 16) {
    throw new ConfigError(['previous-secret: must be base64 of at least 16 bytes, as secret']);
  }
  if (c['previous-secret'] && !c['previous-secret-until']) {
    throw new ConfigError(['previous-secret-until: required with previous-secret (when the old secret\'s tokens stop working, e.g. 2027-01-31T00:00:00Z)']);
  }
  if (c['jobs-backend'] === 'mongo' && !c['mongodb-url']) {
    throw new ConfigError(['mongodb-url: required when jobs-backend is mongo']);
  }
  return {
    configFile: file ? path.resolve(file) : undefined,
    dataDir: path.resolve(repoRoot, c['data-dir']),
    databaseUrl: c['database-url'],
    host: c.host,
    port: c.port,
    baseUrl: c['base-url']?.replace(/\/+$/, ''),
    buildRepoBase: c['build-repo-base']?.replace(/\/+$/, ''),
    secret: c.secret,
    repoSecret: c['repo-secret'],
    previousSecret: c['previous-secret'] ? { secret: c['previous-secret'], until: c['previous-secret-until']! } : undefined,
    masterKey: c['master-key'],
    delayUpdateSecs: c['delay-update-secs'],
    tokenPrefix: c['token-prefix'],
    logLevel: c['log-level'],
    corsOrigins: c['cors-origins'],
    webDir: path.resolve(repoRoot, c['web-dir']),
    webConnectOrigins: c['web-connect-origins'].map((u) => new URL(u).origin),
    redis: c.redis,
    maxQueryDepth: c['max-query-depth'],
    maxQueryCost: c['max-query-cost'],
    maxRequestBytes: c['max-request-bytes'],
    maxSubscriptionsPerSocket: c['max-subscriptions-per-socket'],
    requestTimeoutMs: c['request-timeout-ms'],
    headersTimeoutMs: c['headers-timeout-ms'],
    authFailureLimit: c['auth-failure-limit'],
    authFailureWindowSecs: c['auth-failure-window-secs'],
    uploadRequestsPerToken: c['upload-requests-per-token'],
    uploadRequestsPerIp: c['upload-requests-per-ip'],
    uploadBytesPerToken: c['upload-bytes-per-token'],
    uploadBytesPerIp: c['upload-bytes-per-ip'],
    uploadWindowSecs: c['upload-window-secs'],
    metricsListen: c['metrics-listen'] ? hostPort(c['metrics-listen']) : undefined,
    metricsToken: c['metrics-token'],
    tokenUsageFlushMs: c['token-usage-flush-ms'],
    tokenRevocationCacheMs: c['token-revocation-cache-ms'],
    jobsBackend: c['jobs-backend'],
    mongodbUrl: c['mongodb-url'],
    jobWorkers: c['job-workers'],
    jobLockLifetimeMs: c['job-lock-lifetime-ms'],
    repoLockWaitSecs: c['repo-lock-wait-secs'],
    jobPollMs: c['job-poll-ms'],
    builderRemotes: c['builder-remotes'].map((r) => ({ name: r.name, url: r.url, gpgKey: r['gpg-key'] })),
    gitUrlSchemes: c['git-url-schemes'],
    buildTimeoutSecs: c['build-timeout-secs'],
    buildStallSecs: c['build-stall-secs'],
    maxBuildsPerWorker: c['max-builds-per-worker'],
    buildArches: c['build-arches'] ?? [machineArch()],
    keepFailedBuildSecs: c['keep-failed-build-secs'],
    webhookTimeoutMs: c['webhook-timeout-ms'],
    webhookAttempts: c['webhook-attempts'],
    webhookRetryBaseMs: c['webhook-retry-base-ms'],
    sessionAccessSecs: c['session-access-secs'],
    sessionRefreshSecs: c['session-refresh-secs'],
    signinMaxFailures: c['signin-max-failures'],
    signinLockoutSecs: c['signin-lockout-secs'],
    retentionIntervalSecs: c['retention-interval-secs'],
    retentionDryRun: c['retention-dry-run'],
    buildCacheBudgetBytes: c['build-cache-budget-bytes'],
    jobLogRetentionDays: c['job-log-retention-days'],
    auditRetentionDays: c['audit-retention-days'],
    webhookDeliveryRetentionDays: c['webhook-delivery-retention-days'],
  };
}

function hostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  const port = Number(value.slice(i + 1));
  if (port > 65535) throw new ConfigError([`metrics-listen: port ${port} is out of range`]);
  return { host: value.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port };
}
