"""Logs: one JSON object per line on stderr for every logger, each line of a request carrying
its id (the client's ``X-Request-ID`` when sane, else a new one, echoed in the response)."""

import json
import logging

import pytest
import requests

from api.log import CURRENT, JsonFormatter, RequestContext, RequestContextFilter, TextFormatter
from tests.live import HTTP_TIMEOUT, wait_until


def lines_of(server) -> list[dict]:
    """Every line the server wrote, each parsed as JSON (a line that is not JSON fails)."""
    found = []
    for line in server.log.read_text().splitlines():
        if line.strip():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"a log line that is not JSON: {line!r}")
    return found


@pytest.mark.live
def test_every_line_of_a_request_carries_its_id_as_json(live):
    server = live(workers=1, env={"DJANGO_SETTINGS_MODULE": "tests.boom.settings"})
    response = requests.get(
        f"{server.url}/api/boom/", headers={"X-Request-ID": "abc123"}, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "abc123"
    assert response.json() == {"detail": "Internal server error."}

    def of_request() -> list[dict]:
        return [line for line in lines_of(server) if line.get("request_id") == "abc123"]

    # The server may flush the access line after the client has the response.
    wait_until(lambda: any(line["logger"] == "api.access" for line in of_request()))
    by_logger = {line["logger"]: line for line in of_request()}
    assert set(by_logger) == {"tests.boom", "django.request", "api.access"}
    (worker,) = server.worker_pids()
    for line in by_logger.values():
        assert {"timestamp", "level", "logger", "message"} <= set(line)
        assert line["pid"] == worker
        assert (line["method"], line["path"]) == ("GET", "/api/boom/")
    assert by_logger["tests.boom"]["message"] == "about to fail"
    error = by_logger["django.request"]
    assert error["level"] == "ERROR" and error["status"] == 500
    assert "RuntimeError: a deliberate failure" in error["exc_info"]
    assert "Traceback" in error["exc_info"]
    access = by_logger["api.access"]
    assert access["message"] == "request"
    assert access["status"] == 500 and access["duration_ms"] >= 0
    assert access["remote"] == "127.0.0.1"
    # The server's own lines (granian's) are JSON too, with no request.
    assert any(
        line["logger"].startswith("_granian") and "request_id" not in line
        for line in lines_of(server)
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "given",
    ["", "has space", "x" * 129, 'quote"d', "new\nline", "ümlaut"],
    ids=["empty", "space", "too-long", "quote", "newline", "non-ascii"],
)
def test_an_insane_request_id_is_replaced(client, given):
    response = client.get("/api/health/live", headers={"X-Request-ID": given})
    made = response.headers["X-Request-ID"]
    assert made != given and len(made) == 32 and made.isalnum()


@pytest.mark.django_db
def test_a_sane_request_id_is_kept_and_each_request_gets_a_new_one(client):
    kept = client.get("/api/health/live", headers={"X-Request-ID": "req-1.a:b@c_d"})
    assert kept.headers["X-Request-ID"] == "req-1.a:b@c_d"
    first = client.get("/api/health/live").headers["X-Request-ID"]
    second = client.get("/api/health/live").headers["X-Request-ID"]
    assert first != second


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("caching", logging.WARNING, __file__, 1, "hello %s", ("x",), None)
    record.__dict__.update(extra)
    return record


def test_records_made_inside_a_request_carry_it():
    token = CURRENT.set(RequestContext("r1", "POST", "/api/posts/"))
    try:
        record = _record()
        RequestContextFilter().filter(record)
    finally:
        CURRENT.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "r1" and line["method"] == "POST"
    assert line["path"] == "/api/posts/" and line["message"] == "hello x"
    assert line["level"] == "WARNING" and line["logger"] == "caching"
    outside = _record()
    RequestContextFilter().filter(outside)
    assert "request_id" not in json.loads(JsonFormatter().format(outside))


def test_the_text_format_is_one_readable_line():
    record = _record(request_id="r1", status=404)
    text = TextFormatter().format(record)
    assert " WARNING caching hello x request_id=r1 status=404" in text
    assert "\n" not in text


def test_a_path_cannot_start_a_text_line_of_its_own():
    record = _record(path="/api/\nFAKE ERROR django.request forged")
    text = TextFormatter().format(record)
    assert "\n" not in text and 'path="/api/\\nFAKE ERROR django.request forged"' in text


def test_an_events_data_are_fields_not_message_text(caplog):
    """The layer's events carry their data with ``extra=``: JSON keys in a JSON line,
    ``key=value`` in a text line; the message stays a sentence."""
    from caching.ops.keyspace import clear_namespace

    with caplog.at_level(logging.INFO, logger="caching"):
        clear_namespace("post", dry_run=True)
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "namespace_flushed"]
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "namespace flushed"
    assert {k: line[k] for k in ("event", "namespace", "keys", "dry_run")} == {
        "event": "namespace_flushed",
        "namespace": "post",
        "keys": 0,
        "dry_run": True,
    }
    text = TextFormatter().format(record)
    assert text.endswith(
        "namespace flushed event=namespace_flushed namespace=post keys=0 dry_run=True"
    )
