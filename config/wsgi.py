import os

from config import metrics_dir

metrics_dir.for_process()  # before Django loads prometheus-client

from django.core.wsgi import get_wsgi_application  # noqa: E402

from caching import bound_database_calls  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
bound_database_calls()  # a web server's: commands and migrations run unbounded
