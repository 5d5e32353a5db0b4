"""The production start (``python -m config.serve``, granian) as operators run it: a graceful
stop, the near cache's tracking connection in every worker, its metrics directory removed and
``LOG_LEVEL`` on its own lines. Its logs, metrics and probes
are tests/test_logs.py's, test_metrics.py's and test_probes.py's, which start it too."""

import signal
import threading

import pytest
import requests

from config import metrics_dir
from tests.factories import make_post, make_user
from tests.live import HTTP_TIMEOUT, wait_until
from tests.test_logs import lines_of
from tests.test_metrics import sample

pytestmark = pytest.mark.live


def test_sigterm_lets_a_request_in_flight_finish(live):
    server = live(
        workers=1, env={"DJANGO_SETTINGS_MODULE": "tests.boom.settings", "WEB_THREADS": "2"}
    )
    answered: dict = {}

    def slow() -> None:
        answered["response"] = requests.get(f"{server.url}/api/slow/?s=2", timeout=HTTP_TIMEOUT)

    thread = threading.Thread(target=slow)
    thread.start()

    def in_flight() -> bool:  # the slow request and this scrape
        text = requests.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text
        return sample(text, "http_requests_in_flight") == 2

    wait_until(in_flight, message="the slow request never started")
    server.process.send_signal(signal.SIGTERM)
    thread.join()
    response = answered["response"]
    assert (response.status_code, response.text) == (200, "done")
    assert server.process.wait(timeout=HTTP_TIMEOUT) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/api/health/live", timeout=HTTP_TIMEOUT)


def test_every_worker_tracks_for_its_near_cache(live, private_redis):
    post = make_post(make_user())
    server = live(workers=2, env={"REDIS_URL": private_redis.url})
    client = private_redis.client()

    def tracked() -> set[int]:
        names = [row.get("name", "") for row in client.client_list()]
        return {int(n.split("-")[3]) for n in names if n.startswith("near-cache-tracking-")}

    def every_worker_tracks() -> bool:
        requests.get(f"{server.url}/api/posts/{post.pk}/", timeout=HTTP_TIMEOUT)  # a new connection
        return tracked() == set(server.worker_pids())

    wait_until(every_worker_tracks, message="a worker without its tracking connection")


def test_a_stopped_server_removes_its_metrics_directory(live):
    server = live(workers=1)
    directory = metrics_dir.server_dir(server.process.pid)
    assert directory.is_dir()
    server.stop()
    assert not directory.exists()


def test_log_level_reaches_the_servers_own_lines(live):
    server = live(workers=1, env={"LOG_LEVEL": "WARNING"})
    assert requests.get(f"{server.url}/api/health/live", timeout=HTTP_TIMEOUT).ok
    server.stop()
    own = [line for line in lines_of(server) if line["logger"].startswith("_granian")]
    assert [line for line in own if line["level"] == "INFO"] == []
