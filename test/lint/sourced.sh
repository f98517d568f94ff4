#!/usr/bin/env bash
# test/lint/sourced.sh — every script of the repository that sources another
# by a path in the repository (". contrib/cluster.sh", "source bench/x.sh")
# names a file that exists: a benchmark run by hand rarely, not by the
# suite, would otherwise break unseen when a helper moves.
cd "$(dirname "$0")/../.."
bad=0
while IFS= read -r f; do
  while IFS= read -r p; do
    [ -f "$p" ] || { echo "$f sources $p, which does not exist"; bad=1; }
  done < <(grep -oE '^\s*(\.|source)\s+[A-Za-z0-9_./-]+\.sh\b' "$f" | awk '{print $2}' | grep -v '^\$' | grep '/')
done < <(git ls-files '*.sh')
exit $bad
