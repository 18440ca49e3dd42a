#!/usr/bin/env bash
# Starts a throw-away ArcadeDB server with its Bolt listener, for the tests of the Bolt graph
# backend (infrahub-graph feature `neo4j`). Neo4j and Memgraph cannot be installed on the
# project's machines; ArcadeDB can, from the `arcadedb-embedded` wheel on PyPI (server jars and
# a bundled JRE), and it speaks Bolt 4.4.
#
# Usage:
#   eval "$(scripts/start-arcadedb.sh)"      start; prints shell assignments (below)
#   scripts/start-arcadedb.sh --stop DIR     stop the server whose data directory is DIR and
#                                            delete DIR if this script created it
#
# On success, stdout carries exactly these lines, safe to `eval` (the password is generated
# hex unless ARCADEDB_ROOT_PASSWORD is given, which must then be shell- and URL-safe):
#   ARCADEDB_BOLT_URL=bolt://root:<password>@127.0.0.1:<bolt port>/<database>
#                     (bolt+s:// when ARCADEDB_BOLT_TLS=REQUIRED)
#   ARCADEDB_HTTP_URL=http://127.0.0.1:<http port>   (HTTP API, e.g. to create more databases)
#   ARCADEDB_USER=root
#   ARCADEDB_PASSWORD=<password>
#   ARCADEDB_DATABASE=<database>
#   ARCADEDB_PID=<server pid>                        (also in <data dir>/arcadedb.pid)
#   ARCADEDB_DATA=<data dir>                         (server log: <data dir>/server.log)
# Progress and errors go to stderr.
#
# Environment (all optional):
#   ARCADEDB_VERSION        wheel version (default 26.10.2.post1)
#   ARCADEDB_INSTALL_DIR    install area (default <repo>/.build/arcadedb, ignored by git)
#   ARCADEDB_DATA           data directory (default: a new one under the install area)
#   ARCADEDB_ROOT_PASSWORD  root password, at least 8 characters (default: random)
#   ARCADEDB_DATABASE       database created at start (default infrahub)
#   ARCADEDB_BOLT_PORT, ARCADEDB_HTTP_PORT   ports (default: free ports picked at start)
#   ARCADEDB_HEAP           Java maximum heap (default 1g)
#   ARCADEDB_START_TIMEOUT  seconds to wait for readiness (default 120)
#   ARCADEDB_BOLT_TLS       TLS of the Bolt listener (ArcadeDB's arcadedb.bolt.ssl): DISABLED
#                           (default), OPTIONAL (the client chooses TLS or plain) or REQUIRED
#                           (plain connections are closed); the HTTP API stays plain
#   ARCADEDB_TLS_KEYSTORE   with OPTIONAL or REQUIRED: PKCS12 key store holding the server's key
#                           and certificate chain (arcadedb.ssl.keyStore, also its trust store),
#                           e.g. from `openssl pkcs12 -export -in cert.pem -inkey key.pem ...`
#   ARCADEDB_TLS_KEYSTORE_PASSWORD  its password
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INSTALL_DIR=${ARCADEDB_INSTALL_DIR:-$ROOT/.build/arcadedb}
MARKER=.created-by-start-arcadedb

log() { echo "start-arcadedb: $*" >&2; }

stop_server() {
  local data=$1 pid
  if [ ! -f "$data/arcadedb.pid" ]; then
    log "no arcadedb.pid in $data: nothing to stop"
    return 1
  fi
  pid=$(cat "$data/arcadedb.pid")
  if kill "$pid" 2>/dev/null; then
    # A clean shutdown takes about 2 s; do not leave a server behind if it hangs.
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "pid $pid still running after 10 s: killing it"; kill -9 "$pid" 2>/dev/null || true; }
  fi
  rm -f "$data/arcadedb.pid"
  if [ -f "$data/$MARKER" ]; then rm -rf "$data"; fi
  log "stopped pid $pid"
}

if [ "${1:-}" = "--stop" ]; then
  [ -n "${2:-}" ] || { log "usage: $0 --stop DATA_DIR"; exit 2; }
  stop_server "$2"
  exit $?
fi
[ $# -eq 0 ] || { log "usage: $0 [--stop DATA_DIR]"; exit 2; }

VERSION=${ARCADEDB_VERSION:-26.10.2.post1}
DATABASE=${ARCADEDB_DATABASE:-infrahub}
PASSWORD=${ARCADEDB_ROOT_PASSWORD:-$(python3 -c 'import secrets; print(secrets.token_hex(12))')}
TIMEOUT=${ARCADEDB_START_TIMEOUT:-120}
[ ${#PASSWORD} -ge 8 ] || { log "ARCADEDB_ROOT_PASSWORD must have at least 8 characters"; exit 2; }

# Install: only the JRE and the server jars of the wheel are needed (not its Python package).
DIST=$INSTALL_DIR/$VERSION
if [ ! -x "$DIST/arcadedb_embedded/jre/bin/java" ]; then
  log "installing arcadedb-embedded $VERSION into $DIST"
  mkdir -p "$INSTALL_DIR/wheels"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$INSTALL_DIR/wheels" "arcadedb-embedded==$VERSION" >&2
  WHEEL=$(ls "$INSTALL_DIR"/wheels/arcadedb_embedded-"$VERSION"-*.whl | head -n 1)
  rm -rf "$DIST.tmp" && mkdir -p "$DIST.tmp"
  if command -v unzip >/dev/null; then
    unzip -q -o "$WHEEL" 'arcadedb_embedded/jre/*' 'arcadedb_embedded/jars/*' -d "$DIST.tmp"
  else
    python3 - "$WHEEL" "$DIST.tmp" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        if name.startswith(("arcadedb_embedded/jre/", "arcadedb_embedded/jars/")):
            wheel.extract(name, sys.argv[2])
EOF
  fi
  chmod +x "$DIST.tmp"/arcadedb_embedded/jre/bin/* "$DIST.tmp"/arcadedb_embedded/jre/lib/jspawnhelper \
    "$DIST.tmp"/arcadedb_embedded/jre/lib/jexec 2>/dev/null || true
  rm -rf "$DIST" && mv "$DIST.tmp" "$DIST"
fi
AD=$DIST/arcadedb_embedded

# TLS of the Bolt listener: off unless asked for.
BOLT_TLS=${ARCADEDB_BOLT_TLS:-DISABLED}
TLS_ARGS=()
case "$BOLT_TLS" in
  DISABLED) ;;
  OPTIONAL | REQUIRED)
    [ -f "${ARCADEDB_TLS_KEYSTORE:-}" ] || { log "ARCADEDB_BOLT_TLS=$BOLT_TLS needs ARCADEDB_TLS_KEYSTORE (a PKCS12 file)"; exit 2; }
    [ -n "${ARCADEDB_TLS_KEYSTORE_PASSWORD:-}" ] || { log "ARCADEDB_BOLT_TLS=$BOLT_TLS needs ARCADEDB_TLS_KEYSTORE_PASSWORD"; exit 2; }
    KEYSTORE=$(cd "$(dirname "$ARCADEDB_TLS_KEYSTORE")" && pwd)/$(basename "$ARCADEDB_TLS_KEYSTORE")
    # ArcadeDB requires a trust store too (for client certificates, which Bolt does not ask
    # for): the key store serves as both.
    TLS_ARGS=(-Darcadedb.bolt.ssl="$BOLT_TLS"
      -Darcadedb.ssl.keyStore="$KEYSTORE" -Darcadedb.ssl.keyStorePassword="$ARCADEDB_TLS_KEYSTORE_PASSWORD"
      -Darcadedb.ssl.trustStore="$KEYSTORE" -Darcadedb.ssl.trustStorePassword="$ARCADEDB_TLS_KEYSTORE_PASSWORD")
    ;;
  *) log "ARCADEDB_BOLT_TLS must be DISABLED, OPTIONAL or REQUIRED, not $BOLT_TLS"; exit 2 ;;
esac

# Ports: free ones unless given. The kernel may hand a port out again between this probe and the
# server's bind; the readiness check below then fails with the server log instead of passing.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BOLT_PORT=${ARCADEDB_BOLT_PORT:-$(free_port)}
HTTP_PORT=${ARCADEDB_HTTP_PORT:-$(free_port)}
while [ "$HTTP_PORT" = "$BOLT_PORT" ]; do HTTP_PORT=$(free_port); done

if [ -n "${ARCADEDB_DATA:-}" ]; then
  DATA=$ARCADEDB_DATA
  mkdir -p "$DATA"
else
  mkdir -p "$INSTALL_DIR/runs"
  DATA=$(mktemp -d "$INSTALL_DIR/runs/data.XXXXXX")
  touch "$DATA/$MARKER"
fi
DATA=$(cd "$DATA" && pwd)

# ArcadeDB writes ./log/ into its working directory: run it from the data directory. setsid
# detaches it from the caller's process group, so the caller's Ctrl-C does not reach it.
cd "$DATA"
setsid "$AD/jre/bin/java" -Xms128m -Xmx"${ARCADEDB_HEAP:-1g}" \
  -Darcadedb.server.rootPath="$DATA" \
  -Darcadedb.server.databaseDirectory="$DATA/databases" \
  -Darcadedb.server.rootPassword="$PASSWORD" \
  -Darcadedb.server.httpIncomingHost=127.0.0.1 \
  -Darcadedb.server.httpIncomingPort="$HTTP_PORT" \
  -Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin \
  -Darcadedb.bolt.host=127.0.0.1 -Darcadedb.bolt.port="$BOLT_PORT" ${TLS_ARGS[@]+"${TLS_ARGS[@]}"} \
  -Darcadedb.server.defaultDatabases="$DATABASE[root]" \
  -cp "$AD/jars/*" com.arcadedb.server.ArcadeDBServer >"$DATA/server.log" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$DATA/arcadedb.pid"

# Ready means: the default database answers a Cypher query over HTTP (the Bolt port opens about
# 0.5 s before the database exists) and the Bolt listener completes a handshake for Bolt 4.4
# (inside TLS, not verified, when TLS is required).
bolt_handshake() {
  python3 - "$BOLT_PORT" "$BOLT_TLS" <<'EOF'
import socket, ssl, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    if sys.argv[2] == "REQUIRED":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        s = context.wrap_socket(s)
    s.sendall(bytes.fromhex("6060b017" "00000404" "00000004" "00000000" "00000000"))
    answer = s.recv(4)
sys.exit(0 if len(answer) == 4 and answer != b"\0\0\0\0" else 1)
EOF
}
deadline=$((SECONDS + TIMEOUT))
while :; do
  if ! kill -0 "$PID" 2>/dev/null; then
    log "arcadedb exited during startup; server log:"
    tail -n 40 "$DATA/server.log" >&2
    exit 1
  fi
  if curl -sf -o /dev/null -u "root:$PASSWORD" -H 'Content-Type: application/json' \
      -d '{"language":"cypher","command":"RETURN 1"}' "http://127.0.0.1:$HTTP_PORT/api/v1/command/$DATABASE" \
    && bolt_handshake 2>/dev/null; then
    break
  fi
  if [ $SECONDS -ge $deadline ]; then
    log "arcadedb not ready after ${TIMEOUT}s; server log:"
    tail -n 40 "$DATA/server.log" >&2
    stop_server "$DATA" || true
    exit 1
  fi
  sleep 0.2
done

log "ready: bolt 127.0.0.1:$BOLT_PORT (TLS $BOLT_TLS), http 127.0.0.1:$HTTP_PORT, database $DATABASE, pid $PID"
SCHEME=bolt
[ "$BOLT_TLS" = REQUIRED ] && SCHEME=bolt+s
cat <<EOF
ARCADEDB_BOLT_URL=$SCHEME://root:$PASSWORD@127.0.0.1:$BOLT_PORT/$DATABASE
ARCADEDB_HTTP_URL=http://127.0.0.1:$HTTP_PORT
ARCADEDB_USER=root
ARCADEDB_PASSWORD=$PASSWORD
ARCADEDB_DATABASE=$DATABASE
ARCADEDB_PID=$PID
ARCADEDB_DATA=$DATA
EOF
