#!/usr/bin/env bash
# test/upgrade/compare_catalogs.sh DB_A DB_B — do two databases hold the same
# tensorlens catalog?  Compares `pg_dump --binary-upgrade --schema-only` of
# both (binary-upgrade mode is the one in which pg_dump writes out every
# member of an extension: tables with their column order, functions with
# their bodies and settings, views, types, policies, comments, grants),
# leaving out the schema "app" (a test's own objects) and what differs
# between any two databases: OIDs, relfilenodes, transaction ids, sequence
# positions, the \restrict key.  Prints one line when they are equal, else
# the diff; exit status 0 when equal.  Connects with PGHOST/PGPORT/PGUSER;
# pg_dump from PG_CONFIG's bindir.  Used by test/sql/90_upgrade.sql.
set -u -o pipefail
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BIN=$("$PG_CONFIG" --bindir)
dump() {
  "$BIN/pg_dump" --binary-upgrade --schema-only --no-sync -N app -d "$1" 2>/dev/null |
    grep -v -E '^\\(un)?restrict |binary_upgrade_set_next_' |
    sed -E "s/relfrozenxid = '[0-9]+', relminmxid = '[0-9]+'/relfrozenxid = X, relminmxid = X/
            s/WHERE oid = '[0-9]+'/WHERE oid = X/
            s/setval\(('[^']*'), [0-9]+, (true|false)\)/setval(\1, N)/
            s/(binary_upgrade_create_empty_extension\('[^']*', '[^']*', [a-z]+, '[^']*', )'\{[0-9,]*\}'/\1'{oids}'/"
}
a=$(dump "$1") || { echo "pg_dump of $1 failed"; exit 1; }
b=$(dump "$2") || { echo "pg_dump of $2 failed"; exit 1; }
if [ -z "$a" ] || ! grep -q 'CREATE TABLE public.tl_model' <<< "$a"; then
  echo "no tensorlens catalog in the dump of $1"; exit 1
fi
if [ "$a" = "$b" ]; then
  echo "the catalogs of $1 and $2 are the same"
else
  echo "the catalogs of $1 and $2 differ:"
  diff <(echo "$a") <(echo "$b") | head -100
  exit 1
fi
