"""The benchmarks keep working (at a tiny size; their numbers are not asserted)."""

import os
import re
import subprocess
import sys
import tempfile

import pytest
from django.db import connection

from tests.live import ROOT, spawn, stop_group


def run_script(*args: str, timeout: float) -> tuple[int, str, str]:
    """Run a Python script of the project against the test database; its exit status, stdout
    and stderr. Output goes to files, not pipes, so a process it leaves behind cannot keep the
    test waiting for an end of file; it runs in a process group of its own, which is stopped
    (SIGTERM: the benchmark then stops its servers; SIGKILL after a grace) when it ends or
    overruns ``timeout``."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = spawn([sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=err)
        overran = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            overran = True
        finally:
            stop_group(process, grace=30)
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    assert not overran, f"{args[0]} did not finish in {timeout:g} s: {errors[-3000:]}"
    return process.returncode, output, errors


@pytest.mark.django_db(transaction=True)
def test_write_cost_bench_runs(cache_prefix):
    status, out, err = run_script(
        "bench/write_cost.py",
        "--writes",
        "3",
        "--rounds",
        "1",
        "--small",
        "10",
        "--big",
        "2000",
        timeout=300,
    )
    assert status == 0, err[-2000:]
    assert "ratio big/small" in out


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_read_bench_runs_at_a_tiny_size(cache_prefix):
    status, out, err = run_script("bench/run.py", "--tiny", "--progress", timeout=600)
    assert status == 0, err[-3000:]
    for line in (
        "| detail hits |",
        "| detail hits, HTTP metrics off |",
        "| ceiling (list size) |",
        "| 95/5 read/write mix |",
        "| detail hits / ceiling |",
        "| HTTP metrics on / off (detail, list) |",
        "cache_flush of",
    ):
        assert line in out, line
    # The bar (forced on: stderr is a file here) reached its end, and stayed off stdout.
    assert re.search(r"done: 100%.* (\d+)/\1 ", err), err[-3000:]
    assert "%|" not in out
