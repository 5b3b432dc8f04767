"""The API's worker pool and queue: a full pool answers 503 with Retry-After, requests beyond the
workers wait and then succeed, and nothing stays admitted after its request.

Requests go through FastAPI's TestClient from several threads at once; each request runs in an
event loop of its own (as A1111's server thread and the standalone server's run theirs), so one
pool is shared across loops. The mask route's work is held at a gate the test opens, so which
request waits where is decided by the test, not by timing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from lib_depth3d import pipeline
from lib_depth3d.api import mount
from lib_depth3d.errors import ServerBusyError
from lib_depth3d.worker_pool import PoolSize, WorkerPool, size_from_cores

MASK = "/depth3d/v1/mask"
WAIT_S = 20.0


def png(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def mask_request(seed: int) -> tuple[dict, np.ndarray]:
    """A mask request with its own depth picture, and the hard mask it must come back as."""
    nearness = np.random.default_rng(seed).integers(0, 256, (24, 32), dtype=np.uint8)
    request = {"image": png(Image.new("RGB", (32, 24), (90, 120, 150))),
               "depth_image": png(Image.fromarray(nearness, "L")), "near_min": 0.5, "near_max": 1.0, "hard": True}
    return request, np.where(nearness / 255 >= 0.5, 0, 255)


class Gate:
    """Holds each mask request's work until opened, counting the works inside at once."""

    def __init__(self):
        self.opened = threading.Event()
        self._lock = threading.Lock()
        self.inside = 0
        self.most_inside = 0

    def hold(self, make_mask):
        def held(*args, **kwargs):
            with self._lock:
                self.inside += 1
                self.most_inside = max(self.most_inside, self.inside)
            try:
                assert self.opened.wait(WAIT_S), "the test never opened the gate"
                return make_mask(*args, **kwargs)
            finally:
                with self._lock:
                    self.inside -= 1

        return held


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S} s for {what}")
        time.sleep(0.005)


@pytest.fixture
def gate(monkeypatch):
    gate = Gate()
    monkeypatch.setattr(pipeline, "make_mask", gate.hold(pipeline.make_mask))
    yield gate
    gate.opened.set()  # a failed test leaves no worker waiting


def pooled_client(pool: WorkerPool, app: FastAPI | None = None) -> TestClient:
    app = app or FastAPI()
    mount(app, pool=pool)
    return TestClient(app)


def assert_mask(answer, expected: np.ndarray) -> None:
    assert answer.status_code == 200, answer.text
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer.json()["mask"]))))
    np.testing.assert_array_equal(mask, expected)


def test_a_full_pool_answers_503_with_a_retry_hint_and_the_held_requests_then_succeed(gate):
    pool = WorkerPool(PoolSize(workers=1, queue_size=1))
    client = pooled_client(pool)
    requests = [mask_request(seed) for seed in range(3)]
    with ThreadPoolExecutor(2) as clients:
        running = clients.submit(client.post, MASK, json=requests[0][0])
        wait_until(lambda: gate.inside == 1, "the first request to run")
        waiting = clients.submit(client.post, MASK, json=requests[1][0])
        wait_until(lambda: pool.admitted == 2, "the second request to wait")

        refused = client.post(MASK, json=requests[2][0])
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        assert "busy" in refused.json()["detail"]
        assert gate.inside == 1 and pool.admitted == 2

        gate.opened.set()
        assert_mask(running.result(WAIT_S), requests[0][1])
        assert_mask(waiting.result(WAIT_S), requests[1][1])
    wait_until(lambda: pool.admitted == 0, "the pool to empty")
    assert_mask(client.post(MASK, json=requests[2][0]), requests[2][1])


def test_requests_beyond_the_workers_wait_in_order_and_all_succeed(gate):
    pool = WorkerPool(PoolSize(workers=2, queue_size=3))
    client = pooled_client(pool)
    requests = [mask_request(seed) for seed in range(5)]
    with ThreadPoolExecutor(5) as clients:
        answers = [clients.submit(client.post, MASK, json=request) for request, _ in requests]
        wait_until(lambda: pool.admitted == 5, "five requests admitted")
        wait_until(lambda: gate.inside == 2, "two requests running")
        time.sleep(0.05)
        assert gate.inside == 2 and pool.running == 2
        gate.opened.set()
        for answer, (_, expected) in zip(answers, requests):
            assert_mask(answer.result(WAIT_S), expected)
    assert gate.most_inside == 2
    wait_until(lambda: pool.admitted == 0, "the pool to empty")


@pytest.mark.parametrize("workers, queue_size, clients", [(1, 0, 4), (2, 2, 10), (2, 4, 16)])
def test_the_pool_holds_at_most_its_bound_and_nothing_after(gate, workers, queue_size, clients):
    pool = WorkerPool(PoolSize(workers=workers, queue_size=queue_size))
    client = pooled_client(pool)
    request, expected = mask_request(0)
    with ThreadPoolExecutor(clients) as senders:
        answers = [senders.submit(client.post, MASK, json=request) for _ in range(clients)]
        refused = clients - workers - queue_size
        wait_until(lambda: sum(answer.done() for answer in answers) == refused, "the refusals")
        wait_until(lambda: gate.inside == workers, "the workers to be busy")
        assert pool.admitted == workers + queue_size
        gate.opened.set()
        statuses = [answer.result(WAIT_S).status_code for answer in answers]
    assert statuses.count(200) == workers + queue_size and statuses.count(503) == refused
    assert gate.most_inside == workers
    wait_until(lambda: pool.admitted == 0, "the pool to empty")
    assert_mask(client.post(MASK, json=request), expected)


def test_failed_and_refused_requests_give_their_place_back():
    pool = WorkerPool(PoolSize(workers=1, queue_size=0))
    client = pooled_client(pool)
    for body in ({"image": "not base64!"}, {"image": "AAAA", "unknown": 1}):
        assert client.post(MASK, json=body).status_code in (400, 422)
    assert client.post(MASK, content=b"{", headers={"content-type": "application/json"}).status_code == 422
    assert pool.admitted == 0
    request, expected = mask_request(1)
    assert_mask(client.post(MASK, json=request), expected)
    assert pool.admitted == 0


def test_under_the_webuis_api_a_full_pool_keeps_its_retry_hint(gate):
    from tests.support.a1111.api_middleware import api_middleware

    pool = WorkerPool(PoolSize(workers=1, queue_size=0))
    app = FastAPI()
    api_middleware(app)
    client = pooled_client(pool, app)
    request, expected = mask_request(2)
    with ThreadPoolExecutor(1) as clients:
        running = clients.submit(client.post, MASK, json=request)
        wait_until(lambda: gate.inside == 1, "the first request to run")
        refused = client.post(MASK, json=request)
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
        assert "busy" in refused.json()["detail"]
        gate.opened.set()
        assert_mask(running.result(WAIT_S), expected)


def test_an_admission_ends_when_its_work_ends_even_if_its_request_went_away():
    pool = WorkerPool(PoolSize(workers=1, queue_size=0))
    release = threading.Event()

    async def request_that_goes_away():
        with pool.admit() as admission:
            work = asyncio.ensure_future(admission.run(release.wait, WAIT_S))
            await asyncio.sleep(0.05)
            work.cancel()
        return pool.admitted

    assert asyncio.run(request_that_goes_away()) == 1
    with pytest.raises(ServerBusyError):
        pool.admit()
    release.set()
    wait_until(lambda: pool.admitted == 0, "the work to end")
    pool.admit()


def test_the_retry_hint_follows_the_duration_of_the_work():
    pool = WorkerPool(PoolSize(workers=1, queue_size=3))

    async def one(seconds):
        with pool.admit() as admission:
            await admission.run(time.sleep, seconds)

    assert pool.retry_after_s() == 1  # nothing admitted, nothing measured
    asyncio.run(one(1.2))
    with contextlib.ExitStack() as held:
        for _ in range(4):
            held.enter_context(pool.admit())
        with pytest.raises(ServerBusyError) as refusal:
            pool.admit()
    # four requests of at least 1.2 s each on one worker (4 s if the durations were not measured)
    assert refusal.value.retry_after_s >= 5 and "again in" in str(refusal.value)
    assert pool.admitted == 0


@pytest.mark.parametrize("cores", [1, 2, 16])
def test_the_pool_is_sized_from_the_cores(cores):
    size = size_from_cores(cores)
    assert size.workers == cores and size.capacity > size.workers
