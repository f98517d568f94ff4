# bench/cluster.sh — sourced by the benchmarks (after contrib/packages.sh).
#
#   tl_bench_cluster PORT [SERVER OPTION...]
#
# Builds and installs this checkout holding the machine's install lock, kept
# until the benchmark exits so that the library measured stays the one built
# here, then starts a throwaway cluster in TMP (socket there, port PORT; the
# options are added to the server's command line) and stops and removes it on
# exit.  Sets TMP and RUN_AS (runuser to postgres when run as root).
tl_bench_cluster() {
  local port=$1
  shift
  exec 9>"${TL_INSTALL_LOCK:-/tmp/tensorlens-install.lock}"
  flock 9
  make -s PG_CONFIG=$TL_PG_BIN/pg_config >/dev/null
  make -s PG_CONFIG=$TL_PG_BIN/pg_config install >/dev/null
  TMP=$(mktemp -d /tmp/tensorlens-bench.XXXXXX)
  chmod 755 "$TMP"
  RUN_AS=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$TMP"
    RUN_AS=(runuser -u postgres --)
  fi
  trap '"${RUN_AS[@]}" $TL_PG_BIN/pg_ctl -D "$TMP/data" -m immediate stop >/dev/null 2>&1; rm -rf "$TMP"' EXIT
  "${RUN_AS[@]}" $TL_PG_BIN/initdb -D "$TMP/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
  # 9>&-: the server must not inherit (and so hold) the lock
  "${RUN_AS[@]}" $TL_PG_BIN/pg_ctl -D "$TMP/data" -l "$TMP/server.log" -w \
    -o "-c listen_addresses='' -k $TMP -p $port $*" start >/dev/null 9>&-
}
