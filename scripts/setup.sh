# Sourced by serve.sh and test.sh: a virtualenv with the locked requirements (REQUIREMENTS: the
# runtime lock requirements.txt by default; test.sh asks for the development lock), and
# PostgreSQL and Redis listening where DATABASE_URL and REDIS_URL point (started privately under
# .run/ when they are not running but their servers are installed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN_DIR="$ROOT/.run"
mkdir -p "$RUN_DIR"

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
REQUIREMENTS="${REQUIREMENTS:-requirements.txt}"
# Installed from the lock only: every package pinned and checked against its hash.
STAMP=".venv/.installed-$(basename "$REQUIREMENTS")"
if ! cmp -s "$REQUIREMENTS" "$STAMP" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

ensure_postgres() {
  if pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; then return; fi
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
    echo "PostgreSQL is not listening on $PG_HOST:$PG_PORT and is not installed: apt-get install postgresql" >&2
    exit 1
  fi
  echo "starting a private PostgreSQL in $RUN_DIR/pg" >&2
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); chown postgres "$RUN_DIR"; fi
  if [ ! -f "$RUN_DIR/pg/PG_VERSION" ]; then
    mkdir -p "$RUN_DIR/pg"; [ "$(id -u)" = 0 ] && chown postgres "$RUN_DIR/pg"
    "${as[@]}" "$bin/initdb" -D "$RUN_DIR/pg" -U postgres --auth=trust >/dev/null
  fi
  "${as[@]}" "$bin/pg_ctl" -D "$RUN_DIR/pg" -l "$RUN_DIR/pg.log" -w \
    -o "-h $PG_HOST -p $PG_PORT -k $RUN_DIR/pg" start >/dev/null
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then return; fi
  if ! command -v redis-server >/dev/null; then
    echo "Redis is not listening on 127.0.0.1:$REDIS_PORT and is not installed: apt-get install redis-server" >&2
    exit 1
  fi
  # Bounded (SPEC 10.7): volatile-lru evicts only keys with a TTL, which is every value, lease
  # and history bucket the cache writes; its few counters (no TTL) stay. README: "Redis memory
  # and eviction" for the supported policies.
  local maxmemory="${REDIS_MAXMEMORY:-256mb}" policy="${REDIS_MAXMEMORY_POLICY:-volatile-lru}"
  echo "starting a private Redis in $RUN_DIR/redis (maxmemory $maxmemory, $policy)" >&2
  mkdir -p "$RUN_DIR/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --maxmemory "$maxmemory" --maxmemory-policy "$policy" \
    --dir "$RUN_DIR/redis" --logfile "$RUN_DIR/redis.log" --pidfile "$RUN_DIR/redis.pid"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "Redis did not start; see $RUN_DIR/redis.log" >&2
  exit 1
}

ensure_postgres
ensure_redis
