"""A test-only deployment: the project's settings and URLs plus ``/api/boom/``, a view that logs
a line and then fails (tests/test_logs.py) and ``/api/slow/``, one that takes its time
(tests/test_server.py). Selected with
``DJANGO_SETTINGS_MODULE=tests.boom.settings``; never part of the project's own URLs."""
