#!/usr/bin/env bash
# test/lint/deps.sh — the core's dependencies point one way
# (doc/architecture.md):
#
#   base ← nn ← format        base ← analysis (may use nn)
#   base ← render             src/pg may use every part of the core
#
# Checked twice: the folders a core file names in its #include lines, and,
# when the objects are built, the symbols each object takes from another
# folder's objects (a call without an include is a dependency too).  No
# core file includes a PostgreSQL header.  And what a layer is, the rest
# of the core asks its ops table (flags and hooks, nn/tl_layer.h), never by
# comparing ops pointers: only the registry names the families' tables.
# Prints each offence; exits 1 if there is one.
set -u
cd "$(dirname "$0")/../.."
declare -A may=(
  [base]="base"
  [nn]="base nn"
  [format]="base nn format onnx"   # onnx/: the C protobuf-c generates from onnx.proto (build/)
  [analysis]="base nn analysis"
  [render]="base render"
)
bad=0
allowed() { case " ${may[$1]:-} " in *" $2 "*) return 0 ;; esac; return 1; }

# 1. includes
for f in src/core/*/*.[ch]; do
  from=$(basename "$(dirname "$f")")
  [ -n "${may[$from]:-}" ] || { echo "$f: src/core/$from is not a known part of the core"; bad=1; continue; }
  while IFS=: read -r line inc; do
    to=${inc%%/*}
    if [ "$to" = "$inc" ]; then
      echo "$f:$line: #include \"$inc\" does not name a folder of the core"; bad=1
    elif ! allowed "$from" "$to"; then
      echo "$f:$line: $from/ may not include $inc (it may use: ${may[$from]})"; bad=1
    fi
  done < <(grep -n '^#include "' "$f" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
done

# 2. layer kinds through the ops table
while IFS= read -r hit; do
  echo "$hit: compares ops tables (ask tl_layer_is / the ops hooks instead)"; bad=1
done < <(grep -nE 'ops *[!=]= *&|&tl_ops_[a-z_]+' src/core/*/*.[ch] src/pg/*.[ch] | grep -v '^src/core/nn/tl_registry.c:')

# 3. symbols, from the built objects (make builds them)
objs=$(for c in src/core/*/*.c; do [ -f "${c%.c}.o" ] && echo "${c%.c}.o"; done)
if [ -n "$objs" ]; then
  declare -A home=()
  for o in $objs; do
    part=$(basename "$(dirname "$o")")
    for s in $(nm --defined-only -g "$o" | awk '$2 ~ /[TDBR]/ {print $3}'); do home[$s]=$part; done
  done
  for o in $objs; do
    from=$(basename "$(dirname "$o")")
    for s in $(nm -u "$o" | awk '{print $2}'); do
      to=${home[$s]:-}
      [ -z "$to" ] && continue
      allowed "$from" "$to" || { echo "${o%.o}.c: $from/ uses $s of $to/ (it may use: ${may[$from]})"; bad=1; }
    done
  done
else
  echo "deps: no objects built: symbols not checked"
fi
exit $bad
