// A small deterministic generator of malformed input for the fuzz test (test/fuzz.test.ts) and
// its long run (bench/fuzz.ts). Every case draws from its own PRNG, seeded from the run's seed
// and the case number, so one failing case can be replayed alone (FUZZ_SEED + FUZZ_CASE) without
// running the cases before it. Values start from valid inputs and are bent one way at a time:
// a field dropped, duplicated or retyped, a string made huge or full of NULs and control
// characters, a number out of range, a body truncated or wrongly compressed.
import { createHmac } from 'node:crypto';
import { gzipSync } from 'node:zlib';

// --- the PRNG ------------------------------------------------------------------------------------

export type Rng = {
  /** uniform in [0, 1) */
  next(): number;
  /** an integer in [0, n) */
  int(n: number): number;
  pick<T>(list: readonly T[]): T;
  chance(p: number): boolean;
  bytes(n: number): Buffer;
};

/** mulberry32: 32 bits of state, good enough to spread cases, and the same on every machine. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(list: readonly T[]) => list[int(list.length)]!,
    chance: (p: number) => next() < p,
    bytes(n: number) {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    },
  };
}

/** The PRNG of case `n` of a run seeded `seed` (independent of every other case). */
export function caseRng(seed: number, n: number): Rng {
  // One mulberry32 step over a mix of the two, so neighbouring cases start far apart.
  const mixed = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(n + 1, 0x85ebca77)) >>> 0;
  return rng(rng(mixed).int(2 ** 32));
}

/** FUZZ_SEED when set (decimal), else `fallback`. */
export function seedFrom(env: NodeJS.ProcessEnv, fallback: number): number {
  const raw = env.FUZZ_SEED;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`FUZZ_SEED must be an integer in [0, 2^32): ${raw}`);
  return n;
}

// --- scalars ---------------------------------------------------------------------------------

const unicode = ['é', 'Ω', '中文', '🙂', '👩‍👩‍👧', '\u202e', '\u200b', '\ufeff', 'ﬁ', 'İ', '\u0301', '\ud800', '\udfff'];
const controls = ['\u0000', '\u0001', '\u0007', '\b', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u2028'];
const tricky = [
  '',
  ' ',
  '..',
  '../../../../etc/passwd',
  '/etc/passwd',
  'a/../../b',
  '%2e%2e%2f',
  '%00',
  "' OR '1'='1",
  '"; DROP TABLE builds; --',
  '${jndi:ldap://x}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  '1e309',
  'NaN',
  '__proto__',
  'constructor',
  'file:///etc/passwd',
  'http://169.254.169.254/latest/meta-data/',
  '--upload-pack=touch /tmp/pwned',
  '-rf',
  'main',
  'app/org.test.App/x86_64/stable',
];

/** A string that is wrong in some way: huge, empty, control characters, NULs, odd unicode, paths, injection-looking text. */
export function weirdString(r: Rng, base = 'fuzz'): string {
  switch (r.int(10)) {
    case 0:
      return r.pick(tricky);
    case 1:
      // Longer than any column (VARCHAR(191..1024), TEXT's 64 KiB).
      return base.padEnd(r.pick([256, 1025, 70_000, 300_000]), r.pick(['x', 'é', '🙂', '\u0000']));
    case 2:
      return base + r.pick(controls) + base;
    case 3:
      return Array.from({ length: 1 + r.int(8) }, () => r.pick(unicode)).join('');
    case 4:
      return `${base}\u0000`;
    case 5:
      return Array.from({ length: 1 + r.int(40) }, () => String.fromCharCode(r.int(0x3000))).join('');
    case 6:
      return `${base}.`.repeat(1 + r.int(200));
    case 7:
      return r.pick([' ', '\t', '\n']) + base + r.pick([' ', '\t', '\n']);
    case 8:
      return base.toUpperCase() + r.pick(['/', '\\', ':', '*', '?', '"', '<', '>', '|', '~', '^', '[', '@{', ';', '&', '$(', '`']);
    default:
      return String(weirdNumber(r));
  }
}

/** A number at or past some edge. */
export function weirdNumber(r: Rng): number {
  return r.pick([0, -1, 1, -0, 0.5, -2.5, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 1e21, 1e308, Number.MIN_VALUE, 999999999, 1000000000]);
}

/** Any JSON value, small. */
export function anyValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return weirdNumber(r);
    case 3:
    case 4:
      return weirdString(r);
    case 5:
      return Array.from({ length: r.int(4) }, () => anyValue(r, depth + 1));
    case 6:
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [weirdString(r, 'k').slice(0, 40), anyValue(r, depth + 1)]));
    default:
      // JSON.stringify itself overflows its stack a few thousand levels down: deeper bodies are written as text (jsonBody).
      return deepNest(r, 1 + r.int(r.chance(0.5) ? 50 : 1500));
  }
}

/** A value `n` levels deep (arrays or objects). */
export function deepNest(r: Rng, n: number): unknown {
  let v: unknown = r.chance(0.5) ? 'x' : 1;
  const asObject = r.chance(0.5);
  for (let i = 0; i < n; i++) v = asObject ? { a: v } : [v];
  return v;
}

// --- bending valid values --------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A different type than `v` has (an object for a string, a string for a number, ...). */
export function retype(r: Rng, v: unknown): unknown {
  const options: unknown[] = [null, true, 0, -1, 2 ** 53 + 2, '', weirdString(r), [], [v], {}, { value: v }];
  let out = r.pick(options);
  for (let i = 0; i < 4 && typeof out === typeof v && Array.isArray(out) === Array.isArray(v); i++) out = r.pick(options);
  return out;
}

/**
 * `valid` bent one way: at a random place (a field or element, nested or not) a field dropped,
 * added, duplicated under another name, retyped, or its value replaced with a weird string,
 * number or deep nesting; or the whole value replaced.
 */
export function mutate(r: Rng, valid: unknown, knownKeys: readonly string[] = []): unknown {
  const v = structuredClone(valid) as Json;
  // Walk down a few levels to the place to bend.
  const path: Array<string | number> = [];
  let cur: Json = v;
  while (cur !== null && typeof cur === 'object' && r.chance(0.5)) {
    const keys: Array<string | number> = Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur);
    if (keys.length === 0) break;
    const k = r.pick(keys);
    path.push(k);
    cur = (cur as Record<string | number, Json>)[k]!;
  }
  const bend = (x: Json): unknown => {
    if (x !== null && typeof x === 'object' && !Array.isArray(x) && r.chance(0.6)) {
      const keys = Object.keys(x);
      const o = { ...x } as Record<string, unknown>;
      switch (r.int(5)) {
        case 0:
          if (keys.length) delete o[r.pick(keys)];
          return o;
        case 1:
          o[knownKeys.length && r.chance(0.5) ? r.pick(knownKeys) : weirdString(r, 'extra').slice(0, 60)] = anyValue(r);
          return o;
        case 2:
          if (keys.length) {
            const k = r.pick(keys);
            o[k] = retype(r, o[k]);
          }
          return o;
        case 3:
          if (keys.length) {
            const k = r.pick(keys);
            o[k] = typeof o[k] === 'number' ? weirdNumber(r) : typeof o[k] === 'string' ? weirdString(r, String(o[k])) : anyValue(r);
          }
          return o;
        default:
          // Two spellings of a field at once (flat-manager's app-id beside app_id).
          if (keys.length) {
            const k = r.pick(keys);
            o[k.includes('-') ? k.replace(/-/g, '_') : k.replace(/_/g, '-') + (k.includes('_') ? '' : 'X')] = anyValue(r);
          }
          return o;
      }
    }
    if (Array.isArray(x) && r.chance(0.5)) {
      const a = [...x] as unknown[];
      switch (r.int(4)) {
        case 0:
          return [];
        case 1:
        {
          // Long lists of small things (a long list of huge strings would only test the client's memory).
          const first = a[0] ?? anyValue(r);
          const small = (JSON.stringify(first) ?? '').length < 1000;
          return Array.from({ length: r.pick(small ? [2, 100, 10_000] : [2, 10]) }, () => first);
        }
        case 2:
          a.push(anyValue(r));
          return a;
        default:
          return a.map((e) => (r.chance(0.5) ? retype(r, e) : e));
      }
    }
    switch (r.int(5)) {
      case 0:
        return retype(r, x);
      case 1:
        return typeof x === 'string' ? weirdString(r, x) : weirdNumber(r);
      case 2:
        return deepNest(r, r.pick([3, 200, 1500]));
      case 3:
        return typeof x === 'number' ? weirdNumber(r) : weirdString(r);
      default:
        return anyValue(r);
    }
  };
  if (path.length === 0) return bend(v);
  let parent: Json = v;
  for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k]!;
  (parent as Record<string | number, unknown>)[path[path.length - 1]!] = bend(cur);
  return v;
}

/**
 * `valid` with one string or number in it replaced by a weird one of the same type (a huge or
 * control-character string, an integer at the edge of 32 bits): what gets past type checks and
 * must be refused by the rules behind them (lengths, formats, ranges), not by the database.
 */
export function bendKeepingType(r: Rng, valid: unknown): unknown {
  const v = structuredClone(valid) as Json;
  const leaves: Array<{ parent: Record<string | number, Json>; key: string | number }> = [];
  const visit = (x: Json) => {
    if (x === null || typeof x !== 'object') return;
    for (const [k, e] of Object.entries(x)) {
      const key = Array.isArray(x) ? Number(k) : k;
      if (typeof e === 'string' || typeof e === 'number') leaves.push({ parent: x as Record<string | number, Json>, key });
      else visit(e);
    }
  };
  visit(v);
  if (leaves.length === 0) return v;
  const { parent, key } = r.pick(leaves);
  const old = parent[key];
  parent[key] =
    typeof old === 'number'
      ? r.pick([0, -1, 2 ** 31 - 1, -(2 ** 31), 999_999_999, 86_400 * 365 * 1000])
      : r.chance(0.5)
        ? String(old).padEnd(r.pick([65, 192, 256, 1025, 70_000]), r.pick(['x', 'é', '🙂']))
        : weirdString(r, String(old));
  return v;
}

// --- bodies ----------------------------------------------------------------------------------

export type Body = { bytes: Buffer; headers: Record<string, string>; how: string };

const JSON_TYPE = { 'content-type': 'application/json' };

/** A JSON body for `value`, or that body spoiled on the wire: truncated, not JSON, bad gzip, odd headers. */
export function jsonBody(r: Rng, value: unknown): Body {
  const text = JSON.stringify(value) ?? 'null';
  const good = Buffer.from(text);
  switch (r.int(14)) {
    case 0:
      return { bytes: good.subarray(0, r.int(Math.max(1, good.length))), headers: JSON_TYPE, how: 'truncated' };
    case 1:
      return { bytes: Buffer.from(text.replace(/^\{/, '{"dup":1,"dup":{"x":[') ), headers: JSON_TYPE, how: 'broken nesting' };
    case 2:
      return { bytes: r.bytes(1 + r.int(200)), headers: JSON_TYPE, how: 'random bytes' };
    case 3:
      return { bytes: Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), r.bytes(20)]), headers: { ...JSON_TYPE, 'content-encoding': 'gzip' }, how: 'invalid gzip' };
    case 4:
      return { bytes: good, headers: { ...JSON_TYPE, 'content-encoding': r.pick(['gzip', 'deflate', 'br', 'zstd', 'compress', 'x-evil', 'gzip, gzip']) }, how: 'encoding not applied' };
    case 5:
      return { bytes: gzipSync(good).subarray(0, 12), headers: { ...JSON_TYPE, 'content-encoding': 'gzip' }, how: 'truncated gzip' };
    case 6:
      return { bytes: gzipSync(Buffer.from(`{"a":"${'x'.repeat(3 * 1024 * 1024)}"}`)), headers: { ...JSON_TYPE, 'content-encoding': 'gzip' }, how: 'gzip bomb past the limit' };
    case 7:
      return { bytes: Buffer.from(`${'['.repeat(20_000)}${']'.repeat(20_000)}`), headers: JSON_TYPE, how: 'deep arrays' };
    case 8:
      return { bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), good]), headers: JSON_TYPE, how: 'BOM' };
    case 9:
      return { bytes: Buffer.from(text.replace(/"/, '"\xff\xfe')), headers: { 'content-type': 'application/json; charset=latin1' }, how: 'odd charset' };
    case 10:
      return { bytes: good, headers: { 'content-type': r.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', 'application/json; charset=utf-16']) }, how: 'wrong content-type' };
    case 11:
      return { bytes: Buffer.from(r.pick(['1e999', '-0', '"str"', '[]', 'true', 'null', '{"a":1e400}', '{"__proto__":{"admin":true}}', '\u0000'])), headers: JSON_TYPE, how: 'odd JSON' };
    case 12:
      return { bytes: Buffer.from(`{"pad":"${'x'.repeat(1024 * 1024 + 10)}"}`), headers: JSON_TYPE, how: 'over the body limit' };
    default:
      return { bytes: good, headers: JSON_TYPE, how: 'json' };
  }
}

// --- ref names -------------------------------------------------------------------------------

/** A flatpak ref name with something wrong in it (or, now and then, a valid one). */
export function refName(r: Rng, arch = 'x86_64'): string {
  const parts = [r.pick(['app', 'runtime', 'screenshots', 'appstream', 'appstream2', 'App', '']), r.pick(['org.test.Hello', 'org.test.Platform', 'org.test']), arch, r.pick(['stable', 'master', '1'])];
  const at = r.int(parts.length);
  switch (r.int(9)) {
    case 0:
      parts[at] = '..';
      break;
    case 1:
      parts[at] = `${parts[at]}/${parts[at]}`;
      break;
    case 2:
      parts[at] = `${parts[at]} x`;
      break;
    case 3:
      parts[at] = `${parts[at]}${r.pick(controls)}`;
      break;
    case 4:
      parts[at] = weirdString(r, parts[at]);
      break;
    case 5:
      parts.splice(at, 1);
      break;
    case 6:
      return `/${parts.join('/')}${r.pick(['', '/', '//'])}`;
    case 7:
      parts[at] = r.pick(['', '.', '-x', 'a..b', 'a.lock', '@{', '~', '^', ':', '*', '?', '[', '\\']);
      break;
    default:
      // Unchanged: a well-formed ref (whose commit will be wrong).
      break;
  }
  return parts.join('/');
}

// --- manifests -------------------------------------------------------------------------------

export const validManifest = {
  'app-id': 'org.test.FuzzApp',
  runtime: 'org.test.Platform',
  'runtime-version': '1',
  sdk: 'org.test.Sdk',
  command: 'hello',
  modules: [{ name: 'hello', buildsystem: 'simple', 'build-commands': ['true'] }],
};

const manifestKeys = ['id', 'app-id', 'runtime', 'runtime-version', 'sdk', 'branch', 'default-branch', 'base', 'base-version', 'sdk-extensions', 'modules', 'build-runtime', 'build-extension', 'command', 'finish-args'];

function yamlOf(v: unknown, indent = ''): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return v.length === 0 ? '[]' : v.map((e) => `\n${indent}- ${yamlOf(e, `${indent}  `)}`).join('');
  const entries = Object.entries(v);
  return entries.length === 0 ? '{}' : entries.map(([k, e]) => `\n${indent}${JSON.stringify(k)}: ${yamlOf(e, `${indent}  `)}`).join('');
}

/** A manifest file's name and contents: the valid one bent, or YAML that attacks the parser. */
export function manifestFile(r: Rng): { name: string; text: string | Buffer; how: string } {
  const yaml = r.chance(0.7);
  const name = `org.test.FuzzApp.${yaml ? r.pick(['yml', 'yaml']) : 'json'}`;
  const bent = mutate(r, validManifest, manifestKeys);
  const plain = yaml ? yamlOf(bent).trimStart() + '\n' : JSON.stringify(bent);
  switch (r.int(12)) {
    case 0: {
      // Billion laughs: each level refers to the one before ten times.
      const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      const names = 'abcdefghij';
      for (let i = 1; i < names.length; i++) lines.push(`${names[i]}: &${names[i]} [${Array(10).fill(`*${names[i - 1]}`).join(',')}]`);
      return { name: name.replace(/json$/, 'yml'), text: `${lines.join('\n')}\n${yamlOf(validManifest).trimStart()}\n`, how: 'billion laughs' };
    }
    case 1:
      return { name: name.replace(/json$/, 'yml'), text: `base: &b\n  runtime: org.test.Platform\n  sdk: org.test.Sdk\n<<: *b\nid: org.test.FuzzApp\nmodules: *b\nsdk-extensions: *missing\n`, how: 'merge keys and an unknown alias' };
    case 2:
      return { name, text: `${'['.repeat(r.pick([100, 5000, 50_000]))}`, how: 'deep unterminated nesting' };
    case 3:
      return { name, text: r.bytes(1 + r.int(400)), how: 'random bytes' };
    case 4:
      return { name: name.replace(/json$/, 'yml'), text: `id: !!js/function "function(){}"\nruntime: !!binary aGVsbG8=\nsdk: !custom x\nmodules: !!set {a, b}\n`, how: 'tags' };
    case 5:
      return { name, text: Buffer.from(plain).subarray(0, r.int(plain.length)), how: 'truncated' };
    case 6:
      return { name: name.replace(/json$/, 'yml'), text: `${plain}---\n${plain}`, how: 'two documents' };
    case 7:
      return { name, text: r.pick(['', '~', 'null', '[]', '"x"', '42', '- a\n- b\n', '\u0000', '\ufeff']), how: 'not a mapping' };
    case 8:
      return { name: name.replace(/json$/, 'yml'), text: `id: org.test.FuzzApp\nid: org.test.Other\nruntime: org.test.Platform\nsdk: org.test.Sdk\nmodules: []\n`, how: 'duplicate keys' };
    case 9:
      return { name, text: plain.replace(/org\.test/g, () => weirdString(r, 'org.test').slice(0, 2000)), how: 'weird ids' };
    default:
      return { name, text: plain, how: 'bent fields' };
  }
}

// --- push events -----------------------------------------------------------------------------

export type Forge = 'github' | 'gitea' | 'gitlab';

/** A push event of `forge` for `branch`, bent, with its headers signed well or badly with `secret`. */
export function pushEvent(r: Rng, forge: Forge, secret: string, branch: string): Body {
  const after = r.pick(['a'.repeat(40), '0'.repeat(40), 'b'.repeat(64), 'zz', '']);
  const base: Record<string, unknown> =
    forge === 'gitlab'
      ? { object_kind: 'push', ref: `refs/heads/${branch}`, before: '0'.repeat(40), after, checkout_sha: after, project: { git_http_url: 'https://example.org/x.git' }, commits: [] }
      : { ref: `refs/heads/${branch}`, before: '0'.repeat(40), after, deleted: false, repository: { clone_url: 'https://example.org/x.git', full_name: 'x/y' }, head_commit: { id: after }, commits: [] };
  const value = r.chance(0.85) ? mutate(r, base, ['ref', 'after', 'before', 'deleted', 'created', 'repository', 'commits', 'head_commit', 'checkout_sha', 'object_kind']) : base;
  const body = jsonBody(r, value);
  if (r.chance(0.15)) {
    // GitHub's form encoding: payload=<json>.
    body.bytes = Buffer.from(`payload=${r.chance(0.5) ? pathSegment(body.bytes.toString('latin1')) : body.bytes.toString('latin1')}`);
    body.headers = { 'content-type': 'application/x-www-form-urlencoded' };
    body.how += ' as a form';
  }
  const sign = r.int(6); // 0..2: good, 3: bad, 4: none, 5: malformed
  const key = sign === 3 ? `${secret}x` : secret;
  const mac = createHmac('sha256', key).update(body.bytes).digest('hex');
  const event = r.chance(0.8) ? (forge === 'gitlab' ? 'Push Hook' : 'push') : r.pick(['ping', 'Tag Push Hook', 'create', 'PUSH', '', 'push\u0000', weirdString(r, 'push').slice(0, 300)]);
  const h: Record<string, string> = { ...body.headers };
  const malformed = () => r.pick(['', 'sha256=', `sha1=${mac.slice(0, 40)}`, mac.toUpperCase(), `sha256=${mac.slice(0, 63)}`, `sha256=${'g'.repeat(64)}`, 'sha256=' + mac + mac, `sha256= ${mac}`]);
  if (forge === 'github') {
    h['x-github-event'] = event;
    if (sign < 4) h['x-hub-signature-256'] = `sha256=${mac}`;
    else if (sign === 5) h['x-hub-signature-256'] = malformed();
  } else if (forge === 'gitea') {
    h['x-gitea-event'] = event;
    if (sign < 4) h['x-gitea-signature'] = mac;
    else if (sign === 5) h['x-gitea-signature'] = malformed();
  } else {
    h['x-gitlab-event'] = event;
    if (sign < 4) h['x-gitlab-token'] = key;
    else if (sign === 5) h['x-gitlab-token'] = r.pick(['', secret.slice(0, -1), `${secret} `, secret.toUpperCase()]);
  }
  return { bytes: body.bytes, headers: h, how: `${forge} ${['good', 'good', 'good', 'bad', 'no', 'malformed'][sign]} signature, ${body.how}` };
}

// --- multipart uploads -----------------------------------------------------------------------

const objectExts = ['filez', 'dirtree', 'dirmeta', 'commit', 'commitmeta', 'file', 'sig', 'sizes'];

/** A multipart upload body with something wrong: the boundary, a part's headers, its file name, its size, or the framing. */
export function multipartBody(r: Rng): Body {
  const boundary = r.pick(['fuzzboundary', 'x', '----WebKitFormBoundary7MA4YWxkTrZu0gW', 'a'.repeat(70)]);
  const goodName = () => `${r.bytes(32).toString('hex')}.${r.pick(objectExts)}`;
  const names = [
    goodName(),
    '',
    '../../etc/passwd',
    `${'ab'.repeat(31)}.filez`,
    `${'g'.repeat(64)}.filez`,
    `${r.bytes(32).toString('hex')}.exe`,
    `${r.bytes(32).toString('hex')}`,
    `/abs/${goodName()}`,
    `${goodName()}\u0000.filez`,
    weirdString(r, goodName()).slice(0, 5000),
  ];
  const partCount = r.pick([0, 1, 1, 2, 5]);
  const parts: Buffer[] = [];
  for (let i = 0; i < partCount; i++) {
    const name = r.pick(names);
    const disposition = r.pick([
      `attachment; filename="${name}"`,
      `form-data; name="file${i}"; filename="${name}"`,
      `form-data; name="file${i}"`,
      'attachment',
      `attachment; filename*=UTF-8''${pathSegment(name)}`,
      `attachment; filename*=UTF-8''%E0%A4%A`,
      `attachment; filename=${name}`,
    ]);
    const size = r.pick([0, 1, 100, 4096, 2 * 1024 * 1024]);
    const headers = r.chance(0.1) ? `X-Pad: ${'p'.repeat(20_000)}\r\n` : r.chance(0.1) ? '' : `Content-Disposition: ${disposition}\r\nContent-Type: application/octet-stream\r\n`;
    parts.push(Buffer.from(`--${boundary}\r\n${headers}\r\n`), r.bytes(Math.min(size, 512)), Buffer.alloc(Math.max(0, size - 512), r.int(256)), Buffer.from('\r\n'));
  }
  let body = Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
  let how = `${partCount} parts`;
  let type = `multipart/form-data; boundary=${boundary}`;
  switch (r.int(8)) {
    case 0:
      body = body.subarray(0, r.int(body.length + 1));
      how += ', truncated';
      break;
    case 1:
      type = r.pick(['multipart/form-data', 'multipart/form-data; boundary=', `multipart/form-data; boundary="${boundary}`, `multipart/mixed; boundary=${'b'.repeat(300)}`, 'application/json', `multipart/form-data; boundary=other`]);
      how += `, content-type ${type.slice(0, 60)}`;
      break;
    case 2:
      body = Buffer.concat([r.bytes(r.int(300)), body]);
      how += ', garbage first';
      break;
    case 3:
      body = Buffer.from(body.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
      how += ', LF line ends';
      break;
    case 4:
      body = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), body.subarray(0, 100)]);
      how += ', claims gzip';
      return { bytes: body, headers: { 'content-type': type, 'content-encoding': 'gzip' }, how };
    default:
      break;
  }
  return { bytes: body, headers: { 'content-type': type }, how };
}

/** One line describing an input, short enough for a failure message, long enough to replay by hand. */
export function describe(v: unknown, max = 600): string {
  let t: string;
  if (Buffer.isBuffer(v)) t = `<${v.length} bytes> ${JSON.stringify(v.subarray(0, 200).toString('latin1'))}`;
  else {
    try {
      t = JSON.stringify(v, (_k, x) => (typeof x === 'string' && x.length > 200 ? `${x.slice(0, 200)}…(${x.length} chars)` : x)) ?? String(v);
    } catch {
      // Deeper than the replacer's stack allows.
      t = `<deep> ${JSON.stringify(v).slice(0, max)}`;
    }
  }
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/** `s` as one URL path segment: its UTF-8 bytes percent-encoded (lone surrogates too, as U+FFFD). */
export function pathSegment(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0').toUpperCase()}`)).join('');
}
