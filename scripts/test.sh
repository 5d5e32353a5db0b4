#!/usr/bin/env bash
# Set up and run the whole test suite against real PostgreSQL and Redis.
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
python manage.py check --fail-level WARNING
python manage.py makemigrations --check --dry-run >/dev/null
exec python -m pytest "$@"
