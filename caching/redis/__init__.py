"""The Redis boundary, the only code that imports ``redis`` or ``django_redis``: connection,
failure policy and breaker, scripts, cluster routing, replica acknowledgements, event counters."""
