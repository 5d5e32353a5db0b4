"""The operators' view: stats, memory, SCAN-based clears, ``/metrics``, the dashboard, the
staff API and the commands' progress bars."""
