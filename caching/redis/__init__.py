"""The Redis boundary: the only code in the project that imports ``redis`` or
``django_redis``. Connection, failure policy and breaker, scripts, cluster routing, replica
acknowledgements, event counters."""
