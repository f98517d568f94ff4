#!/usr/bin/env bash
# test/lint/releases.sh — the scripts of released versions are unchanged
# (sql/released.sha256), every released install script is listed there,
# and an upgrade path leads from each released version to the version
# being built (tensorlens.control).  The tree holds all it needs: tags are
# local and a CI clone may have none.  Exits 1 on any offence.
set -u
cd "$(dirname "$0")/../.."
bad=0
sums=$(grep -v '^#' sql/released.sha256)
(cd sql && sha256sum --quiet -c - <<< "$sums") || { echo "a released script changed: never edit sql/tensorlens--<released>*.sql"; bad=1; }
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" tensorlens.control)
grep -q "^EXTVERSION *= *$current\$" Makefile || { echo "Makefile's EXTVERSION is not tensorlens.control's $current"; bad=1; }
for f in sql/tensorlens--[0-9]*.[0-9]*.[0-9]*.sql; do
  v=${f#sql/tensorlens--}; v=${v%.sql}
  case $v in *--*) continue ;; esac
  [ "$v" = "$current" ] && continue	# built from sql/parts
  grep -q " tensorlens--$v.sql\$" <<< "$sums" || { echo "$f is not in sql/released.sha256"; bad=1; }
done
# from every released version, upgrade steps reach the current one
for v in $(sed -n 's/.* tensorlens--\([0-9.]*\)\.sql$/\1/p' <<< "$sums"); do
  at=$v
  while [ "$at" != "$current" ]; do
    next=$( (ls sql/tensorlens--"$at"--*.sql sql/upgrades/"$at"--*.sql 2>/dev/null) | head -1 | sed 's/.*--\([0-9.]*\)\.sql$/\1/')
    [ -n "$next" ] || { echo "no upgrade from $at (on the way from $v to $current)"; bad=1; break; }
    at=$next
  done
done
exit $bad
