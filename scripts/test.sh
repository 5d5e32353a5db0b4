#!/usr/bin/env bash
# Set up and run the whole test suite against real PostgreSQL and Redis.
source "$(dirname "$0")/setup.sh"
python manage.py check --fail-level WARNING
python manage.py makemigrations --check --dry-run >/dev/null
exec python -m pytest "$@"
