"""The read-side HTTP layer: what the apps' views share to answer GETs from the cache's bytes,
and the API's cross-cutting HTTP rules (errors, parsing, negotiation, throttling, health)."""
