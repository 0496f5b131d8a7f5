// What a repo page tells flatpak users to run: the .flatpakrepo URL, `flatpak remote-add` and
// one `flatpak install` per app. Pure, so it is tested without a browser.

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Where clients get the repo's .flatpakrepo: the server's own URL for it when base-url is
 * configured, else the path fmd serves it at (`/repo/<name>.flatpakrepo`) on the server the
 * dashboard talks to.
 */
export function flatpakrepoUrl(repo: { name: string; flatpakrepoUrl: string | null }, serverOrigin: string): string {
  return repo.flatpakrepoUrl ?? `${serverOrigin.replace(/\/+$/, '')}/repo/${encodeURIComponent(repo.name)}.flatpakrepo`;
}

/** The remote name clients should use: the repo's suggested one, else its name. */
export function remoteName(repo: { name: string; suggestedRemoteName: string | null }): string {
  return repo.suggestedRemoteName?.trim() || repo.name;
}

export function remoteAddCommand(remote: string, url: string): string {
  return `flatpak remote-add --if-not-exists ${shellQuote(remote)} ${shellQuote(url)}`;
}

export type ParsedRef = { kind: string; id: string; arch: string; branch: string };

/** `app/org.example.App/x86_64/stable` -> its parts; undefined for other refs (appstream, ...). */
export function parseRef(ref: string): ParsedRef | undefined {
  const parts = ref.split('/');
  if (parts.length !== 4 || (parts[0] !== 'app' && parts[0] !== 'runtime')) return undefined;
  const [kind, id, arch, branch] = parts as [string, string, string, string];
  return { kind, id, arch, branch };
}

/**
 * One `flatpak install` line per app and branch: `flatpak install <remote> <app-id>` when the app
 * has one branch here (or the branch is the repo's default), `<app-id>//<branch>` otherwise.
 * Runtimes are installed as dependencies, so they get no line. Sorted by app id.
 */
export function installCommands(remote: string, refs: readonly string[], defaultBranch?: string | null): { appId: string; branch: string; command: string }[] {
  const branches = new Map<string, Set<string>>();
  for (const r of refs) {
    const p = parseRef(r);
    if (!p || p.kind !== 'app') continue;
    let set = branches.get(p.id);
    if (!set) branches.set(p.id, (set = new Set()));
    set.add(p.branch);
  }
  const out: { appId: string; branch: string; command: string }[] = [];
  for (const appId of [...branches.keys()].sort()) {
    const set = branches.get(appId)!;
    for (const branch of [...set].sort()) {
      const plain = set.size === 1 || branch === defaultBranch;
      out.push({ appId, branch, command: `flatpak install ${shellQuote(remote)} ${shellQuote(plain ? appId : `${appId}//${branch}`)}` });
    }
  }
  return out;
}

/** The first 12 hex digits of a commit, as `ostree log` users read them. */
export function shortCommit(commit: string): string {
  return commit.slice(0, 12);
}
