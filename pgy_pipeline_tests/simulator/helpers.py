"""Constants and small HTTP helpers shared by the simulator tests."""

from __future__ import annotations

from typing import Any

import requests

from pgy_pipeline.simulator import ENDPOINT_PATH, Simulator
from pgy_pipeline_tests.support import TEST_TOKEN as TOKEN

PINNED = {"u0": 0, "u7": 7, "u8": 8, "u9": 9, "u15": 15, "u16": 16, "u50": 50, "u120": 120}
FIELDS = [
    "readNum",
    "likeNum",
    "collectNum",
    "isAdvertise",
    "isVideo",
    "noteId",
    "imgUrl",
    "title",
    "brandName",
    "date",
    "thirdReadUserNum",
]


def call(
    session: requests.Session, sim: Simulator, timeout: float = 5.0, token: str | None = TOKEN, **params: Any
) -> requests.Response:
    if token is not None:
        params["token"] = token
    return session.get(sim.base_url + ENDPOINT_PATH, params=params, timeout=timeout)


def body(session: requests.Session, sim: Simulator, **params: Any) -> dict[str, Any]:
    response = call(session, sim, **params)
    assert response.status_code == 200
    return response.json()


def fetch_all(session: requests.Session, sim: Simulator, **params: Any) -> list[list[dict[str, Any]]]:
    """Pages until a short or empty one, as the FACTS tell the client to."""
    pages = []
    for page in range(1, 200):
        data = body(session, sim, pageNumber=page, **params)["data"]
        pages.append(data["list"])
        if len(data["list"]) < sim.profile.page_size:
            return pages
    raise AssertionError("paging never ended")


def code_of(session: requests.Session, sim: Simulator, **params: Any) -> int:
    return body(session, sim, **params)["code"]
