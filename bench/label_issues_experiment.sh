#!/usr/bin/env bash
# bench/label_issues_experiment.sh — runs bench/label_issues_experiment.sql for
# the IMDB CNN and the GAP Dense model on the demo database (made by
# contrib/demo.sh, which it runs first, quietly).
set -euo pipefail
cd "$(dirname "$0")/.."
. contrib/packages.sh
. contrib/cluster.sh
bash contrib/demo.sh >/dev/null
tl_lock_install
PSQL=(psql -X -h "${TL_HOME:-/var/lib/tensorlens}" -p "${TL_PORT:-5488}" -U postgres tensorlens_demo)
for spec in "imdb_cnn 2000 binary_crossentropy_from_logits" "imdb_gap_dense 18000 binary_crossentropy"; do
  set -- $spec
  echo "== $1"
  "${PSQL[@]}" -v model=$1 -v num_words=$2 -v loss=$3 -f bench/label_issues_experiment.sql
done
