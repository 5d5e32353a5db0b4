"""Prometheus metrics at /metrics, and their sums across worker processes (multiprocess mode)."""

import os
import re
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from config import metrics_dir
from tests.factories import make_post, make_user
from tests.live import HTTP_TIMEOUT, wait_until


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


def _spread(server, path: str, batch: int, done, limit: int = 4000) -> int:
    """Send concurrent batches of GET ``path`` until ``done()``; every answer must be a 200.
    Returns how many were sent."""
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while not done():
            assert sent < limit, "the requests never reached every worker"
            statuses = list(
                pool.map(
                    lambda _: requests.get(server.url + path, timeout=HTTP_TIMEOUT).status_code,
                    range(batch),
                )
            )
            assert statuses == [200] * batch
            sent += batch
    return sent


@pytest.mark.live
def test_metrics_are_summed_across_two_workers(live, tmp_path):
    post = make_post(make_user())
    server = live(
        workers=2,
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},  # an operator's own directory
    )
    # Concurrent batches until both workers have counted.
    sent = _spread(
        server,
        f"/api/posts/{post.pk}/",
        40,
        lambda: len(list(tmp_path.glob("counter_*.db"))) >= 2,
        limit=2000,
    )
    text = requests.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text
    hits = sample(text, "cache_reads_total", namespace="post", outcome="HIT")
    misses = sample(text, "cache_reads_total", namespace="post", outcome="MISS")
    assert hits + misses == sent
    assert sample(text, "cache_outbox_backlog") == 0


@pytest.mark.django_db
def test_metrics_are_for_allowed_addresses_only(api, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.9"]
    assert api.get("/metrics").status_code == 403


@pytest.mark.live
@pytest.mark.parametrize("preload", [False, True])
def test_http_metrics_add_up_under_a_plain_gunicorn_command(live, preload):
    """``gunicorn config.wsgi:application -w 2 -k gthread`` as most deployments write it, from
    the project's root (gunicorn reads ``gunicorn.conf.py`` there). Workers are recycled every
    30 requests on the way, so dead workers' counts must stay in. Every scrape, whichever
    worker answers it, sees exactly the requests sent."""
    from api import release

    post = make_post(make_user())
    server = live(
        workers=2,
        server="gunicorn",
        extra_args=["-k", "gthread", "--max-requests", "30"] + (["--preload"] if preload else []),
        ready_path="/api/health/live",
    )
    directory = metrics_dir.server_dir(server.process.pid)
    path = f"/api/posts/{post.pk}/"

    def counted() -> float:
        text = requests.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text
        return sample(text, "http_requests_total", route="post-detail", method="GET", status=200)

    # Samples from at least three processes: both workers, and one that replaced another.
    sent = _spread(server, path, 20, lambda: len(list(directory.glob("counter_*.db"))) >= 3)
    scrapes = [counted() for _ in range(8)]
    assert scrapes == [sent] * 8
    text = requests.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text
    assert sample(text, "http_request_duration_seconds_count", route="post-detail") == sent
    assert sample(text, "http_requests_in_flight") == 1  # this scrape
    assert (
        sample(text, "cache_reads_total", namespace="post", outcome="HIT")
        + sample(text, "cache_reads_total", namespace="post", outcome="MISS")
        == sent
    )
    assert sample(text, "app_release_info", version=release.VERSION, commit=release.commit()) == 1


@pytest.mark.live
def test_a_gunicorn_started_without_the_projects_config_warns_at_start(live, tmp_path):
    """From another directory gunicorn finds no ``gunicorn.conf.py``: each worker would count
    alone, and the start says so."""
    server = live(server="gunicorn", cwd=tmp_path, ready_path="/api/health/live")
    assert "started without the project's gunicorn.conf.py" in server.log.read_text()


@pytest.mark.live
def test_http_metrics_add_up_under_the_production_start_when_workers_die(live):
    """``python -m config.serve`` (granian) sets the directory up before its workers start, and
    has no ``child_exit`` hook: workers killed in the middle of a request and replaced leave
    their counts in and their in-flight gauge out. Every scrape sees exactly what was sent."""
    post = make_post(make_user())
    server = live(
        workers=2,
        env={"DJANGO_SETTINGS_MODULE": "tests.boom.settings", "WEB_THREADS": "2"},
        ready_path="/api/health/live",
    )
    directory = metrics_dir.server_dir(server.process.pid)
    path = f"/api/posts/{post.pk}/"
    sent = _spread(server, path, 20, lambda: len(list(directory.glob("counter_*.db"))) >= 2)

    def cut_short() -> None:
        try:
            requests.get(f"{server.url}/api/slow/?s=10", timeout=HTTP_TIMEOUT)
        except requests.ConnectionError:
            pass  # its worker is killed under it

    slow = threading.Thread(target=cut_short)
    slow.start()
    wait_until(
        lambda: (
            sample(
                requests.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text,
                "http_requests_in_flight",
            )
            == 2
        ),
        message="the slow request never started",
    )
    first = server.worker_pids()
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    slow.join()
    wait_until(lambda: not set(server.worker_pids()) & set(first), message="no new workers")
    wait_until(lambda: len(server.worker_pids()) == 2, message="fewer than two new workers")
    wait_until(lambda: requests.get(f"{server.url}/api/health/live", timeout=HTTP_TIMEOUT).ok)
    sent += _spread(server, path, 20, lambda: len(list(directory.glob("counter_*.db"))) >= 3)
    text = requests.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text
    assert (
        sample(text, "http_requests_total", route="post-detail", method="GET", status=200) == sent
    )
    assert sample(text, "http_request_duration_seconds_count", route="post-detail") == sent
    assert sample(text, "http_requests_in_flight") == 1  # this scrape; no dead worker's
    assert (
        sample(text, "cache_reads_total", namespace="post", outcome="HIT")
        + sample(text, "cache_reads_total", namespace="post", outcome="MISS")
        == sent
    )


@pytest.mark.django_db
def test_http_metrics_name_the_route_never_the_path(api, user):
    post = make_post(user)
    before = api.get("/metrics").content.decode()
    api.get(f"/api/posts/{post.pk}/")
    api.get("/api/no/such/thing/")
    api.get("/nowhere-at-all")
    text = api.get("/metrics").content.decode()

    def rose(**labels) -> float:
        return sample(text, "http_requests_total", **labels) - sample(
            before, "http_requests_total", **labels
        )

    assert rose(route="post-detail", method="GET", status=200) == 1
    assert rose(route="api-not-found", method="GET", status=404) == 1
    assert rose(route="unmatched", method="GET", status=404) == 1
    assert "/api/posts/" not in "".join(
        line for line in text.splitlines() if line.startswith("http_")
    )


@pytest.mark.django_db
def test_http_metrics_can_be_turned_off(api, user, settings):
    settings.HTTP_METRICS_ENABLED = False  # the middleware is loaded again for this client
    from django.test import Client

    client = Client()

    def counted() -> float:
        text = client.get("/metrics").content.decode()
        return sample(text, "http_requests_total", route="health-live", method="GET", status=200)

    before = counted()
    client.get("/api/health/live")
    assert counted() == before
