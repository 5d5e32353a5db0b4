#!/usr/bin/env bash
# Set up and run the whole test suite against real PostgreSQL and Redis, in two passes:
#   1. on the Redis of REDIS_URL, by default the single one on 127.0.0.1:6379 (every test);
#   2. on a 6-node Redis Cluster started for this run (scripts/redis_cluster.py, stopped by PID at
#      the end), every test but those that bring a Redis of their own (marker own_redis).
# Before them, the static checks: ruff (lint and format), the import contracts (lint-imports),
# mypy, and the Prometheus alerting rules (promtool check and unit tests); CHECKS=false skips
# them. TEST_CLUSTER=false runs the first pass only. Arguments go to pytest, on both passes (a
# -m of yours replaces the second pass's -m "not own_redis").
REQUIREMENTS=requirements-dev.txt  # the development lock: the runtime plus tests and checks
source "$(dirname "$0")/setup.sh"
# The browser test drives Debian's Chromium (no downloaded browser builds).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium and chromium-driver (Debian packages) for the browser test" >&2
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
      || echo "could not install chromium: the browser test will fail and say so" >&2
  else
    echo "the browser test needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver" >&2
  fi
fi
REDIS_URL_SHOWN="${REDIS_URL:-redis://127.0.0.1:6379/0}"
# Tests run as production does (DJANGO_DEBUG false), with a secret key of this run's own.
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-test-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')}"
if [ "${CHECKS:-true}" != false ]; then
  # The alerting rules are checked by Debian's promtool (package prometheus; not its
  # recommended node exporter, a second service).
  if ! command -v promtool >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing prometheus (Debian package) for promtool, to check the alerting rules" >&2
      { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
        || { echo "could not install prometheus: the alerting rules cannot be checked without promtool" >&2; exit 1; }
    else
      echo "the alerting rules are checked with promtool: apt-get install prometheus (or CHECKS=false)" >&2
      exit 1
    fi
  fi
  echo "== checks: ruff, import contracts, mypy, alerting rules" >&2
  ruff check --quiet .
  ruff format --check --quiet .
  lint-imports --no-cache
  mypy
  promtool check rules deploy/prometheus/alerts.yml >/dev/null
  (cd deploy/prometheus && promtool test rules alerts_test.yml >/dev/null)
fi
python manage.py check --fail-level WARNING
# The deploy checklist under production settings (SPEC 10.1): HTTPS behind a proxy, debug off.
DJANGO_DEBUG=false DJANGO_HTTPS=true python manage.py check --deploy --fail-level WARNING
python manage.py makemigrations --check --dry-run >/dev/null
echo "== pass 1: REDIS_URL ($REDIS_URL_SHOWN)" >&2
# pytest's own temporary folders in the run directory, not the machine's temp directory.
python -m pytest --basetemp="$RUN_DIR/pytest" "$@"
if [ "${TEST_CLUSTER:-true}" = false ]; then exit 0; fi

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "the Redis Cluster pass needs redis-server and redis-cli: apt-get install redis-server (or TEST_CLUSTER=false)" >&2
  exit 1
fi
CLUSTER_DIR="$RUN_DIR/test-cluster"
trap 'python scripts/redis_cluster.py stop "$CLUSTER_DIR"' EXIT
CLUSTER_URL=$(python scripts/redis_cluster.py start "$CLUSTER_DIR")
echo "== pass 2: Redis Cluster ($CLUSTER_URL)" >&2
status=0
REDIS_URL="$CLUSTER_URL" python -m pytest --basetemp="$RUN_DIR/pytest" -m "not own_redis" "$@" || status=$?
[ "$status" = 5 ] && status=0  # pytest's "no tests collected": only own_redis tests were asked for
exit "$status"
