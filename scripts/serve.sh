#!/usr/bin/env bash
# Set up, migrate, seed demo data, and serve the API on 127.0.0.1:8000 (Ctrl-C stops it).
source "$(dirname "$0")/setup.sh"
# A local development server: debug pages and the demo superuser, unless told otherwise.
export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
export LOG_FORMAT="${LOG_FORMAT:-text}"  # readable lines here; JSON (the default) in production
createdb -h 127.0.0.1 -U postgres postsapi 2>/dev/null || true
python manage.py migrate --noinput
python manage.py collectstatic --noinput -v0
python manage.py seed_demo --if-empty --users "${DEMO_USERS:-50}" --posts "${DEMO_POSTS:-1000}"
export WEB_BIND="${WEB_BIND:-127.0.0.1:8000}"
echo "API on http://$WEB_BIND/api/  docs /api/docs/  admin /admin/ (admin / admin-password when DJANGO_DEBUG=true)"
# The release's commit for the probes and metrics (api/release.py), unless the build set it.
export GIT_COMMIT="${GIT_COMMIT:-$(git -C "$(dirname "$0")" rev-parse HEAD 2>/dev/null || true)}"
# The production start (config/serve.py, granian): workers, threads and logging from the
# environment (.env.example).
exec python -m config.serve
