# contrib/packages.sh — the Debian packages tensorlens needs, and a function
# that installs the missing ones (sourced by the demo and the test runner).
TL_PG_VERSION=15
# TL_PG_BIN and TL_INSTALL_LOCK may point at a private copy of the server
# (a relocated /usr/lib/postgresql tree), so that two checkouts can test at once
TL_PG_BIN=${TL_PG_BIN:-/usr/lib/postgresql/$TL_PG_VERSION/bin}
TL_INSTALL_LOCK=${TL_INSTALL_LOCK:-/tmp/tensorlens-install.lock}
TL_PACKAGES="postgresql-$TL_PG_VERSION postgresql-server-dev-$TL_PG_VERSION
  libhdf5-dev libopenblas-dev libjansson-dev libzip-dev pkg-config make gcc
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata
  python3-numpy python3-h5py python3-sklearn dataset-fashion-mnist
  clang libclang-rt-14-dev"

tl_install_packages() {
  local missing="" p
  for p in $TL_PACKAGES "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "tensorlens: missing Debian packages:$missing — run as root (or install them)" >&2
    return 1
  fi
  echo "tensorlens: installing$missing"
  apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# OpenBLAS 0.3.21 picks its kernels from the CPU's family and model; on CPUs
# it does not know that have AVX-512 (recent AMD cores) it falls back to its
# AVX2 kernels, about half as fast (doc/performance.md).  Servers started by
# the scripts inherit OPENBLAS_CORETYPE=SkylakeX on a CPU with the AVX-512
# parts those kernels use (F, BW, DQ, VL), unless it is set already; never
# on a CPU without them, where those kernels would crash (tensorlens then
# refuses to load).  tl_blas_info() says which kernels a server runs.
tl_openblas_env() {
  [ -n "${OPENBLAS_CORETYPE+x}" ] && return 0
  local f
  for f in avx512f avx512bw avx512dq avx512vl; do
    grep -qw "$f" /proc/cpuinfo 2>/dev/null || return 0
  done
  export OPENBLAS_CORETYPE=SkylakeX
}
tl_openblas_env
