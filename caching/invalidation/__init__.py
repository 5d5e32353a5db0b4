"""The ORM side: every write path (save, delete, querysets, raw SQL) turned into row changes,
and their cache work scheduled for after the commit."""
