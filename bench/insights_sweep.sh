#!/usr/bin/env bash
# bench/insights_sweep.sh [PLANTED] [CLEAN] — how often tl_insights names a
# planted subgroup first, blames a random metadata column, or reports a
# finding on a clean run, over many seeds (doc/insights.md).
#
# The runs are the planted synthetic runs of test/sql/66_insights.sql
# (plant_run, read from the test so that both use one definition): 1000
# samples, 6 blobs in 8-D perception space, 3 classes, errors at random
# (rate 0.15); planted runs have about 10 % samples tagged source =
# scanner_b, moved off their blob and wrong at rate 0.6; batch and length
# are random in every run.  Seeds here (0.5 + i/1000, -i/1000) differ from the
# test's.  Builds, installs and starts its own cluster (contrib/cluster.sh).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. contrib/packages.sh
. contrib/cluster.sh
PLANTED=${1:-30}
CLEAN=${2:-100}
TL_PG_BIN=${TL_PG_BIN:-/usr/lib/postgresql/15/bin}
TL_INITDB_OPTS="-E UTF8 --locale=C" tl_installed_cluster insights-sweep 54431
TMP=$TL_CLUSTER
PSQL=("${RUN_AS[@]}" psql -X -q -h "$TMP" -p 54431 -U postgres -d postgres -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "CREATE EXTENSION tensorlens"
sed -n '/^CREATE FUNCTION plant_run/,/^\$\$;/p' test/sql/66_insights.sql | "${PSQL[@]}"
"${PSQL[@]}" <<SQL
CREATE TABLE sweep_planted AS SELECT s AS seed, plant_run(0.5 + s / 1000.0, true) AS run FROM generate_series(1, $PLANTED) s;
CREATE TABLE sweep_clean AS SELECT s AS seed, plant_run(-s / 1000.0, false) AS run FROM generate_series(1, $CLEAN) s;
\pset footer off
SELECT count(*) AS planted_runs,
       count(*) FILTER (WHERE i.description ~ 'source = scanner_b') AS top_finding_names_scanner_b
  FROM sweep_planted p, tl_insights(p.run) i WHERE i.rank = 1;
SELECT count(DISTINCT p.run) FILTER (WHERE i.description ~ 'batch|length' OR i.details::text ~ '"(batch|length)"')
       AS planted_runs_blaming_a_random_column
  FROM sweep_planted p, tl_insights(p.run) i;
SELECT a.alpha, count(DISTINCT c.run) FILTER (WHERE i.kind IS NOT NULL) AS clean_runs_with_a_finding,
       count(i.kind) FILTER (WHERE i.kind = 'low_performance') AS low_performance,
       count(i.kind) FILTER (WHERE i.kind = 'metadata') AS metadata,
       count(i.kind) FILTER (WHERE i.kind = 'under_represented') AS under_represented
  FROM (VALUES (0.01), (0.05)) a(alpha) CROSS JOIN sweep_clean c
  LEFT JOIN LATERAL (SELECT * FROM tl_insights(c.run, NULL, a.alpha) x
                      WHERE x.kind IN ('low_performance', 'metadata', 'under_represented')) i ON true
 GROUP BY a.alpha ORDER BY a.alpha;
SQL
