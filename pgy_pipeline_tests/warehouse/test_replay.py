"""The raw layer rebuilds the warehouse exactly: random histories, written live vs replayed.

Each seed plays a random history of two KOLs through the real raw store and the real SQL
normalisation: notes published, deleted and restored, metrics that grow or come back
null, complete fetches, glitches (an empty answer, total 0), short and failed fetches,
filtered and third-platform fetches, fetches written late and fetches written twice.
The live database must equal a rebuild in one replay batch and a rebuild in shuffled
batches, row by row, gone marks included.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from click.testing import CliRunner

from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.replay import replay_batch
from pgy_pipeline_tests.warehouse.lab import Lab, connect, dump, note, pages_of, write

USERS = ("kol_a", "kol_b")
KINDS = {
    "full": 6,
    "most_read": 2,
    "third": 2,
    "organic": 1,
    "video": 1,
    "glitch_empty": 2,
    "glitch_zero": 2,
    "page_cap": 1,
    "failed": 1,
    "moved": 1,
}


class History:
    """The API's truth for the KOLs, and what each kind of fetch answers."""

    def __init__(self, rng: random.Random, lab: Lab) -> None:
        self.rng, self.lab = rng, lab
        self.notes: dict[str, dict[str, dict[str, Any]]] = {u: {} for u in USERS}
        self.hidden: dict[str, dict[str, dict[str, Any]]] = {u: {} for u in USERS}
        self.next_id = 0
        self.held: list[Any] = []

    def publish(self, user: str, third: bool = False) -> None:
        self.next_id += 1
        item = note(self.next_id, reads=self.rng.randint(0, 500), isVideo=self.rng.random() < 0.3)
        item |= {"isAdvertise": self.rng.random() < 0.3, "third": third}
        self.notes[user][item["noteId"]] = item

    def evolve(self) -> None:
        rng = self.rng
        for user in USERS:
            for _ in range(rng.randint(0, 3)):
                self.publish(user, third=rng.random() < 0.2)
            live = list(self.notes[user])
            if live and rng.random() < 0.4:  # deleted or hidden; may come back
                gone = rng.choice(live)
                self.hidden[user][gone] = self.notes[user].pop(gone)
            if self.hidden[user] and rng.random() < 0.2:
                back = rng.choice(list(self.hidden[user]))
                self.notes[user][back] = self.hidden[user].pop(back)
            for item in self.notes[user].values():
                item["readNum"] += rng.randint(0, 50)
                item["likeNum"] += rng.randint(0, 5)

    def answer(self, user: str, third: bool, keep=lambda n: True) -> list[dict[str, Any]]:
        out = []
        for item in self.notes[user].values():
            if item["third"] == third and keep(item):
                shown = {k: v for k, v in item.items() if k != "third"}
                for metric in ("readNum", "likeNum", "collectNum"):
                    if self.rng.random() < 0.1:  # the API's nulls and garbage
                        shown[metric] = self.rng.choice([None, "12.5"])
                out.append(shown)
        self.rng.shuffle(out)
        return out

    def fetch(self, user: str, kind: str) -> None:
        a = self.answer
        write = self.rng.random() > 0.15  # else held back and written later, out of order
        f = self.lab.fetch
        if kind in ("full", "most_read", "third"):
            order = "MOST_READ" if kind == "most_read" else "LATEST"
            row = f(
                user,
                pages_of(a(user, kind == "third")),
                third_platform=kind == "third",
                order_type=order,
                write=write,
            )
        elif kind == "organic":
            row = f(
                user,
                pages_of(a(user, False, lambda n: not n["isAdvertise"])),
                advertise_switch="ORGANIC_ONLY",
                write=write,
            )
        elif kind == "video":
            row = f(user, pages_of(a(user, False, lambda n: n["isVideo"])), note_type="VIDEO", write=write)
        elif kind == "glitch_empty":
            total = len(a(user, False))
            row = f(user, [[]], total=total, status="incomplete", stop_reason="short_of_total", write=write)
        elif kind == "glitch_zero":
            row = f(user, [[]], total=0, stop_reason="empty_page", write=write)
        elif kind in ("page_cap", "failed"):
            pages = pages_of(a(user, False), size=3)[:1]
            status, stop = ("incomplete", "page_cap") if kind == "page_cap" else ("failed", None)
            row = f(user, pages, total=len(a(user, False)), status=status, stop_reason=stop, write=write)
        else:  # a note moved between pages: seen twice, the client dropped the duplicate
            items = a(user, False)
            pages = pages_of(items, size=4)
            if items:
                pages[-1].append(dict(items[0], readNum=0))
            row = f(user, pages, duplicates_dropped=1 if items else 0, write=write)
        if not write:
            self.held.append(row)

    def step(self) -> None:
        rng = self.rng
        self.evolve()
        for user in USERS:
            self.fetch(user, rng.choices(list(KINDS), weights=list(KINDS.values()))[0])
        if self.held and rng.random() < 0.5:
            self.lab.write([self.held.pop(rng.randrange(len(self.held)))])
        recorded = list(self.lab.raw.iter_recorded_fetches())
        if recorded and rng.random() < 0.2:  # an operator replays one old fetch
            self.lab.rewrite(*rng.choice(recorded))


def play(seed: int, lab: Lab) -> None:
    history = History(random.Random(seed), lab)
    for _ in range(history.rng.randint(6, 14)):
        history.step()
    for row in history.held:
        lab.write([row])
    for user in USERS:  # end with a deletion seen by two complete fetches: gone marks exist
        if history.notes[user]:
            history.notes[user].pop(next(iter(history.notes[user])))
        for _ in range(2):
            history.fetch(user, "full")
    for row in history.held:
        if not lab.query("SELECT 1 FROM fetches WHERE fetch_id = ?", row.fetch_id):
            lab.write([row])


@pytest.mark.parametrize("seed", range(12))
def test_a_rebuild_from_the_raw_layer_equals_the_live_warehouse(tmp_path, seed):
    lab = Lab(tmp_path)
    play(seed, lab)
    live = dump(lab.conn)
    assert lab.query("SELECT count(*) FROM notes WHERE gone_at IS NOT NULL")[0][0] > 0
    recorded = list(lab.raw.iter_recorded_fetches())
    assert len(recorded) == len(live["fetches"])

    one_batch = connect()
    write(one_batch, *replay_batch(lab.raw, recorded))
    assert dump(one_batch) == live

    rng = random.Random(-seed)
    rng.shuffle(recorded)
    shuffled = connect()
    while recorded:
        n = rng.randint(1, 4)
        write(shuffled, *replay_batch(lab.raw, recorded[:n]))
        recorded = recorded[n:]
    assert dump(shuffled) == live


def test_pgy_replay_into_an_empty_data_dir_gives_the_live_warehouse(tmp_path, monkeypatch):
    lab = Lab(tmp_path)
    play(99, lab)
    monkeypatch.setenv("PGY_DATA_DIR", str(tmp_path))
    from pgy_pipeline.cli import main

    result = CliRunner().invoke(main, ["replay"])
    assert result.exit_code == 0, result.output
    with Warehouse(tmp_path).connect_snapshot() as rebuilt:
        assert dump(rebuilt) == dump(lab.conn)
