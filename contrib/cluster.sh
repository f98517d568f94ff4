# contrib/cluster.sh — the one place where scripts build, install and run
# PostgreSQL clusters for tensorlens: the test suite, the load and fault
# tests, the benchmarks, the demo, the screenshots and the BI checks source
# it (after contrib/packages.sh, which sets TL_PG_BIN and TL_INSTALL_LOCK).
#
#   tl_lock_install        hold TL_INSTALL_LOCK on descriptor 9 until the
#                          script exits (not when TL_INSTALL_LOCK_HELD=1: the
#                          caller holds it); says who holds it while waiting
#   tl_build_install       make and make install into TL_PG_BIN's tree
#   tl_cluster_init DIR [INITDB OPTION...]
#                          DIR owned by the server's user, a cluster in DIR/data
#   tl_cluster_start DIR PORT [SERVER OPTION...]
#                          start it: socket in DIR, port PORT, TCP only on
#                          TL_LISTEN (default none); TL_SERVER_ENV=(VAR=x ...)
#                          adds to the server's environment, TL_PG_CTL_OPTS
#                          to pg_ctl's options (-p a wrapper, -t seconds)
#   tl_cluster_stop DIR [MODE]      stop it (default mode immediate)
#   tl_throwaway_cluster NAME PORT [SERVER OPTION...]
#                          init (TL_INITDB_OPTS, default none) and start in a
#                          fresh /tmp/tensorlens-NAME.* (TL_CLUSTER), stopped
#                          and removed on exit
#   tl_installed_cluster NAME PORT [SERVER OPTION...]
#                          hold the install lock until exit, build and install
#                          this checkout, then a throwaway cluster (the
#                          benchmarks: the library measured is the one built)
#   tl_on_exit COMMAND     run COMMAND (a string) when the script exits, before
#                          the throwaway cluster goes
#
# RUN_AS runs a command as the server's user (runuser to postgres when run
# as root, else nothing).  A server started here never inherits descriptor 9
# (`9>&-`): one that did would hold the install lock for as long as it runs
# and block every later install (the demo's persistent cluster once did).
export TL_PG_BIN TL_INSTALL_LOCK	# the scripts this one runs use the same server
RUN_AS=()
[ "$(id -u)" = 0 ] && RUN_AS=(runuser -u postgres --)
TL_EXIT_HOOKS=()

tl_lock_install() {
  [ -n "${TL_INSTALL_LOCK_HELD:-}" ] && return 0
  exec 9>"$TL_INSTALL_LOCK"
  if ! flock -n 9; then
    echo "== waiting for $TL_INSTALL_LOCK, held by: $(fuser "$TL_INSTALL_LOCK" 2>/dev/null)" >&2
    flock 9
  fi
}

tl_build_install() {
  make -s PG_CONFIG="$TL_PG_BIN/pg_config" >/dev/null &&
    make -s PG_CONFIG="$TL_PG_BIN/pg_config" install >/dev/null
}

tl_cluster_init() {
  local dir=$1
  shift
  mkdir -p "$dir"
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  "${RUN_AS[@]}" "$TL_PG_BIN/initdb" -D "$dir/data" -U postgres -A trust "$@" \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
}

tl_cluster_start() {
  local dir=$1 port=$2
  shift 2
  "${RUN_AS[@]}" env ${TL_SERVER_ENV[@]+"${TL_SERVER_ENV[@]}"} "$TL_PG_BIN/pg_ctl" ${TL_PG_CTL_OPTS:-} -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses='${TL_LISTEN:-}' -k $dir -p $port $*" start >/dev/null 9>&- ||
    { tail -20 "$dir/server.log" >&2; return 1; }
}

tl_cluster_stop() {
  "${RUN_AS[@]}" "$TL_PG_BIN/pg_ctl" -D "$1/data" -w -m "${2:-immediate}" stop >/dev/null 2>&1
}

tl_on_exit() {
  TL_EXIT_HOOKS+=("$1")
  trap tl_run_exit_hooks EXIT
}

tl_run_exit_hooks() {
  local i
  for ((i = ${#TL_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do eval "${TL_EXIT_HOOKS[i]}" || true; done
}

tl_throwaway_cluster() {
  local name=$1 port=$2
  shift 2
  TL_CLUSTER=$(mktemp -d "/tmp/tensorlens-$name.XXXXXX")
  tl_on_exit 'tl_cluster_stop "$TL_CLUSTER"; rm -rf "$TL_CLUSTER"'
  # shellcheck disable=SC2086
  tl_cluster_init "$TL_CLUSTER" --no-sync ${TL_INITDB_OPTS:-} && tl_cluster_start "$TL_CLUSTER" "$port" "$@"
}

tl_installed_cluster() {
  tl_lock_install && tl_build_install && tl_throwaway_cluster "$@"
}
