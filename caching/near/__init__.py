"""The near cache: hot entries in each process (``cache``), kept exact by Redis's invalidation
pushes (``tracking``), served in front of Redis (``tier``) with its hits counted."""
