#!/usr/bin/env bash
# Copies one fmd repo to a mirror (or a CDN's origin) with rsync, in the order that keeps every
# client working while it runs: whatever summary a client reads on the mirror, the objects,
# deltas and signatures it leads to are already there.
#
#   deploy/mirror-sync.sh SRC_REPO DEST
#     SRC_REPO  an fmd repo directory: <data-dir>/repos/<name>
#     DEST      an rsync destination: /srv/mirror/<name> or host:/srv/flatpak/<name>
#   MIRROR_DELETE=0    keep files the source has dropped (default 1: remove them, last)
#   MIRROR_PURGE=CMD   run CMD (through bash) once the new summary is on the mirror, e.g. a CDN
#                      purge of summary* and the .flatpakrepo files (docs/deployment.md)
#   RSYNC_OPTS         more rsync options, split at spaces, e.g. "--bwlimit=50m --compress"
#   RSYNC_RSH          rsync's own: the ssh command, e.g. "ssh -i /etc/fmd/mirror-key"
#
# As a repo's post-publish hook it runs after every summary update, in the repo directory:
#   updateRepo(input: { name: "stable", hooks: { postPublish:
#     ["/opt/fmd/deploy/mirror-sync.sh", ".", "mirror.example.org:/srv/flatpak/stable"] } })
#
# The order:
#  1. a snapshot of refs/ and the summary files (summary, summary.sig, summary.idx,
#     summary.idx.sig), taken first, so everything they name is already in the source;
#  2. objects/, deltas/, delta-indexes/, appstream/, media/ and config: new and changed files
#     (a re-signed .commitmeta or superblock), nothing deleted;
#  3. summaries/ (content-addressed sub-summaries, summary deltas and index signatures);
#  4. the snapshot: refs/, then summary.idx.sig, summary.idx, summary.sig, summary, each
#     signature before the file it signs (as fmd itself installs them);
#  5. MIRROR_PURGE, then (MIRROR_DELETE=1) a pass that only deletes what the source dropped.
# Objects and deltas never change once written, so a transfer in progress is harmless; each
# pass uses --delay-updates so that a pass's files appear together at its end.
set -euo pipefail

if (($# != 2)); then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
src=${1%/}
dest=${2%/}
[[ -f "$src/config" && -d "$src/objects" ]] || { echo "mirror-sync: $src is not an OSTree repo" >&2; exit 2; }

# shellcheck disable=SC2206 # RSYNC_OPTS is split like a command line on purpose
extra=(${RSYNC_OPTS:-})
rs() { rsync -rlt --delay-updates --exclude='/.*' --exclude='/tmp' "${extra[@]}" "$@"; }

snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT

# 1. A consistent snapshot: fmd writes summaries/<sha>.idx.sig before summary.idx; if the
#    index changed while it was copied, copy again.
for attempt in 1 2 3 4 5; do
  rm -rf "${snap:?}"/*
  for f in summary summary.sig summary.idx summary.idx.sig; do
    if [[ -f "$src/$f" ]]; then cp -p "$src/$f" "$snap/$f"; fi
  done
  if [[ -d "$src/refs" ]]; then cp -a "$src/refs" "$snap/refs"; fi
  if [[ ! -f "$snap/summary.idx" ]]; then break; fi
  sha=$(sha256sum "$snap/summary.idx" | cut -d' ' -f1)
  if [[ -f "$src/summaries/$sha.idx.sig" ]] && cmp -s "$snap/summary.idx" "$src/summary.idx"; then break; fi
  if ((attempt == 5)); then echo "mirror-sync: the summary of $src kept changing; try again" >&2; exit 1; fi
  sleep 1
done

# 2. Content first.
parts=()
for d in objects deltas delta-indexes appstream media config; do
  if [[ -e "$src/$d" ]]; then parts+=("$src/$d"); fi
done
rs "${parts[@]}" "$dest/"

# 3. Sub-summaries and the content-addressed index signatures.
if [[ -d "$src/summaries" ]]; then rs "$src/summaries" "$dest/"; fi

# 4. Refs, then each signature before the file it signs.
if [[ -d "$snap/refs" ]]; then rs "$snap/refs" "$dest/"; fi
for f in summary.idx.sig summary.idx summary.sig summary; do
  if [[ -f "$snap/$f" ]]; then rs "$snap/$f" "$dest/$f"; fi
done

# 5. Caches, then what the source no longer has (pruned objects, old deltas and summaries).
if [[ -n "${MIRROR_PURGE:-}" ]]; then bash -c "$MIRROR_PURGE"; fi
if [[ "${MIRROR_DELETE:-1}" == 1 ]]; then
  rs --delete --existing --ignore-existing "$src/" "$dest/"
fi
echo "mirror-sync: $src -> $dest done"
