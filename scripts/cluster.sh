# A temporary PostgreSQL cluster for tests and benchmarks (sourced; needs common.sh first).
#   cluster_start PORT   -> sets CLUSTER_DIR and CLUSTER_HOST; the cluster stops on exit
#   as_pg CMD...         -> runs CMD as postgres when we are root
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cluster_stop() {
  as_pg "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$CLUSTER_DIR"
}

cluster_start() {
  local port=$1 bindir
  bindir=$("$PG_CONFIG" --bindir)
  CLUSTER_DIR=$(mktemp -d /tmp/pg_zeroshot_cluster.XXXXXX)
  CLUSTER_HOST=$CLUSTER_DIR
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$CLUSTER_DIR"; fi
  trap cluster_stop EXIT
  as_pg "$bindir/initdb" -D "$CLUSTER_DIR/data" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  # RUST_BACKTRACE is unset unless CLUSTER_KEEP_BACKTRACE=1 (tests/safety checks that clients
  # never see a backtrace even with it set).
  (if [ "${CLUSTER_KEEP_BACKTRACE:-0}" = 1 ]; then export RUST_BACKTRACE=1; else unset RUST_BACKTRACE RUST_LIB_BACKTRACE; fi; as_pg "$bindir/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w \
    -o "-p $port -k $CLUSTER_DIR -c listen_addresses='' -c lc_messages=C ${CLUSTER_OPTIONS:-}" start >/dev/null)
}
