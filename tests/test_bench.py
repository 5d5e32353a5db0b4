"""The benchmarks keep working (at a tiny size; their numbers are not asserted)."""

import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.live import ROOT


@pytest.mark.django_db(transaction=True)
def test_write_cost_bench_runs(cache_prefix):
    db = connection.settings_dict
    env = {"DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    done = subprocess.run(
        [sys.executable, "bench/write_cost.py", "--writes", "3", "--rounds", "1", "--small", "10", "--big", "2000"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio big/small" in done.stdout


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_read_bench_runs_at_a_tiny_size(cache_prefix):
    db = connection.settings_dict
    env = {"DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    done = subprocess.run([sys.executable, "bench/run.py", "--tiny"], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for line in ("| detail hits |", "| ceiling (list size) |", "| 95/5 read/write mix |", "| detail hits / ceiling |", "cache_flush of"):
        assert line in done.stdout, line
