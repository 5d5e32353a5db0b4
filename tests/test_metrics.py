"""Prometheus metrics at /metrics, and their sums across gunicorn workers (multiprocess mode)."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.factories import make_post, make_user
from tests.live import HTTP_TIMEOUT


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(name + ("{" if labels else " ")):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if all(found.get(k) == str(v) for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.django_db
def test_metrics_count_reads_by_namespace_and_outcome(api, user):
    post = make_post(user)
    before = api.get("/metrics").content.decode()
    api.get(f"/api/posts/{post.pk}/")
    api.get(f"/api/posts/{post.pk}/")
    text = api.get("/metrics").content.decode()
    assert (
        sample(text, "cache_reads_total", namespace="post", outcome="HIT")
        - sample(before, "cache_reads_total", namespace="post", outcome="HIT")
        == 1
    )
    assert (
        sample(text, "cache_reads_total", namespace="post", outcome="MISS")
        - sample(before, "cache_reads_total", namespace="post", outcome="MISS")
        == 1
    )
    assert (
        "cache_read_seconds_bucket" in text
        and "cache_outbox_backlog" in text
        and "cache_breaker_open" in text
    )


@pytest.mark.live
def test_metrics_are_summed_across_two_workers(live, tmp_path):
    post = make_post(make_user())
    server = live(
        workers=2,
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        extra_args=["-c", "config/gunicorn.conf.py"],
    )
    sent = 0
    with ThreadPoolExecutor(8) as pool:  # concurrent batches until both workers have counted
        while len(list(tmp_path.glob("counter_*.db"))) < 2:
            assert sent < 2000, "the second worker never served a request"
            statuses = list(
                pool.map(
                    lambda _: (
                        requests.get(
                            f"{server.url}/api/posts/{post.pk}/", timeout=HTTP_TIMEOUT
                        ).status_code
                    ),
                    range(40),
                )
            )
            assert statuses == [200] * 40
            sent += 40
    text = requests.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text
    hits = sample(text, "cache_reads_total", namespace="post", outcome="HIT")
    misses = sample(text, "cache_reads_total", namespace="post", outcome="MISS")
    assert hits + misses == sent
    assert sample(text, "cache_outbox_backlog") == 0


@pytest.mark.django_db
def test_metrics_are_for_allowed_addresses_only(api, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.9"]
    assert api.get("/metrics").status_code == 403
