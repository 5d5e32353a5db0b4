"""The PostgreSQL boundary: a database backend whose calls from web requests are bounded
(``ENGINE = "caching.database"``; docs/failures.md, "When PostgreSQL fails")."""
