// What a repo's settings may hold. Names end up in paths and URLs, ids in ostree configs and
// summaries, and texts in .flatpakrepo key files: each is checked for what it becomes.
import { z } from 'zod';
import { InvalidInputError } from '../errors.ts';

/** Repo names are path segments and URL segments: no dots (so `<name>.flatpakrepo` is unambiguous), no slashes. */
export const REPO_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function validateRepoName(name: string, field = 'name'): string {
  if (!REPO_NAME_RE.test(name)) {
    throw new InvalidInputError('repo names are 1-64 characters: letters, digits, _ and -, starting with a letter or digit', field);
  }
  return name;
}

const ELEMENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const APP_ELEMENT_RE = /^[A-Za-z_-][A-Za-z0-9_-]*$/;

/** ostree's rule (D-Bus interface names): two or more elements of [A-Za-z0-9_], none starting with a digit, at most 255 characters. */
export function isValidCollectionId(id: string): boolean {
  if (id.length > 255) return false;
  const parts = id.split('.');
  return parts.length >= 2 && parts.every((p) => ELEMENT_RE.test(p));
}

/** flatpak's rule for app ids: three or more elements of [A-Za-z0-9_-], none starting with a digit, at most 255 characters. */
export function isValidAppId(id: string): boolean {
  if (id.length > 255) return false;
  const parts = id.split('.');
  return parts.length >= 3 && parts.every((p) => APP_ELEMENT_RE.test(p));
}

/** An app-id prefix as tokens and subsets use them: one or more elements (empty = everything). */
export function isValidIdPrefix(prefix: string): boolean {
  return prefix === '' || (prefix.length <= 255 && prefix.split('.').every((p) => APP_ELEMENT_RE.test(p)));
}

/** flatpak branch names: [A-Za-z0-9_.-], not starting with . or -. */
export const BRANCH_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

const oneLine = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must be one line without control characters');
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'must not contain control characters');
const httpUrl = z
  .string()
  .max(512)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && !/[\s]/.test(s);
    } catch {
      return false;
    }
  }, 'must be an http(s) URL');

export const deltaSettingsSchema = z
  .object({
    /** run `--generate-static-deltas` (from-scratch and from the previous commit) on summary updates */
    generate: z.boolean().default(true),
    /** parallel delta jobs (`--static-delta-jobs`) */
    jobs: z.number().int().min(1).max(64).optional(),
    /** refs (globs) never given deltas, e.g. `*.Debug` */
    ignoreRefs: z.array(oneLine(255)).max(100).default([]),
    /** prune unreachable objects on summary updates */
    prune: z.boolean().default(false),
    /** commits of history kept per ref when pruning (-1 = all) */
    pruneDepth: z.number().int().min(-1).max(10000).optional(),
  })
  .strict();
export type DeltaSettings = z.infer<typeof deltaSettingsSchema>;

const command = z.array(z.string().min(1).max(4096)).min(1).max(64);
export const hooksSchema = z
  .object({
    checks: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'check names are [A-Za-z0-9_.-]'),
            /** argv of the check command */
            command,
            reviewable: z.boolean().default(false),
          })
          .strict(),
      )
      .max(32)
      .default([]),
    publish: command.optional(),
    postPublish: command.optional(),
  })
  .strict();
export type RepoHooks = z.infer<typeof hooksSchema>;

export const subsetsSchema = z
  .record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'subset names are [A-Za-z0-9_-]'),
    z.array(z.string().refine(isValidIdPrefix, 'must be an app-id prefix such as org.example')).max(1000),
  )
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 subsets');

/** Auto-promotion into a repo from its parent: every build that lands in the parent, after a delay. */
export const autoPromoteSchema = z
  .object({
    /** how long a build stays in the parent before it is promoted (a newer build there supersedes it) */
    delaySecs: z
      .number()
      .int()
      .min(0)
      .max(365 * 24 * 3600)
      .nullish()
      .transform((v) => v ?? 0),
    /** only builds whose app and runtime ids all have one of these prefixes (none = every build) */
    appIdPrefixes: z
      .array(z.string().min(1, 'must be an app-id prefix such as org.example').refine(isValidIdPrefix, 'must be an app-id prefix such as org.example'))
      .max(1000)
      .nullish()
      .transform((v) => [...new Set(v ?? [])]),
  })
  .strict();
export type AutoPromoteRule = z.infer<typeof autoPromoteSchema>;

/** The stored rule, or null when there is none (or it no longer parses). */
export function parseAutoPromote(v: unknown): AutoPromoteRule | null {
  if (v == null) return null;
  const r = autoPromoteSchema.safeParse(v);
  return r.success ? r.data : null;
}

/** Repo settings as stored; undefined = not given (keep), null = clear. */
export const repoSettingsSchema = z
  .object({
    title: oneLine(255).nullish(),
    comment: oneLine(255).nullish(),
    description: text(16384).nullish(),
    homepage: httpUrl.nullish(),
    icon: httpUrl.nullish(),
    collectionId: z.string().refine(isValidCollectionId, 'must be a reverse-DNS id such as org.example.Stable').nullish(),
    deployCollectionId: z.boolean().optional(),
    suggestedRemoteName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be a remote name ([A-Za-z0-9_.-])').nullish(),
    defaultBranch: z.string().regex(BRANCH_RE, 'must be a branch name such as stable').nullish(),
    redirectUrl: httpUrl.nullish(),
    baseUrl: httpUrl.nullish(),
    runtimeRepoUrl: httpUrl.nullish(),
    subsets: subsetsSchema.optional(),
    deltaSettings: deltaSettingsSchema.optional(),
    hooks: hooksSchema.optional(),
    autoPromote: autoPromoteSchema.nullish(),
    /** every git build into the repo is published once committed */
    autoPublish: z.boolean().optional(),
    defaultTokenType: z.number().int().min(0).max(0x7fffffff).optional(),
    authRequiredTokenTypes: z.array(z.number().int().min(0).max(0x7fffffff)).max(64).optional(),
  })
  .strict();
export type RepoSettings = z.infer<typeof repoSettingsSchema>;

/** Parses settings, turning the first problem into an InvalidInputError naming its field. */
export function parseRepoSettings(input: unknown): RepoSettings {
  const r = repoSettingsSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  throw new InvalidInputError(`${field || 'input'}: ${issue.message}`, field || undefined);
}

export function parseDeltaSettings(v: unknown): DeltaSettings {
  const r = deltaSettingsSchema.safeParse(v ?? {});
  return r.success ? r.data : deltaSettingsSchema.parse({});
}

export function parseTokenTypes(v: unknown): number[] {
  return Array.isArray(v) ? v.filter((x): x is number => Number.isInteger(x)) : [];
}
