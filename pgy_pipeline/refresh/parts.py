"""What a Refresher is built from: its stores, its settings, and what opens its client.

Three objects instead of a dozen arguments: the stores it reads and writes, the settings that
say how it works, and a ClientOpener (the Dagster resource's, or ConfigClient's for tests and
benches).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pgy_pipeline import settings
from pgy_pipeline.justoneapi import ClientConfig, NotesDetailClient
from pgy_pipeline.refresh.handoff import CallLedger
from pgy_pipeline.warehouse.backends import AnyWarehouse
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.state import PipelineState, RetryPolicy


@dataclass(frozen=True)
class Stores:
    """Where a refresh keeps what it buys: the warehouse, the raw pages, the pipeline's state."""

    warehouse: AnyWarehouse
    raw: RawStore
    state: PipelineState


@dataclass(frozen=True)
class RefreshSettings:
    """How a refresh works (PgyResource's fields, resolved)."""

    kol_workers: int = 8  # KOLs fetched at once
    # KOLs handed to the workers and not yet written to the warehouse, at most (engine.py): what
    # the fetch may run ahead of the writing thread. ~1 s of one-page KOLs with no rate limit;
    # never reached when the API's rate is the bottleneck.
    unlanded_max: int = 256
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # what a failure records for the retry sensor
    resume_max_age: timedelta = timedelta(hours=24)  # a fetch begun this recently is resumed, not begun again
    # A KOL completed within this, with the same filters, is not bought again (0: always bought).
    fresh_for: timedelta = timedelta(0)
    # The pipeline's clock (settings.now: PGY_TODAY pins the day), for fetch times and for what
    # counts as "fetched recently" or "resumable".
    clock: Callable[[], datetime] = settings.now


class ClientOpener(Protocol):
    """Opens the client one refresh fetches through; the client records every call in ``ledger``."""

    def open(self, ledger: CallLedger) -> AbstractContextManager[NotesDetailClient]: ...


@dataclass(frozen=True)
class ConfigClient:
    """A ClientOpener from a ClientConfig alone: no budget guard (tests, benches)."""

    config: ClientConfig
    clock: Callable[[], datetime] | None = None  # settings.now to stamp pages as the resource does

    def open(self, ledger: CallLedger) -> AbstractContextManager[NotesDetailClient]:
        return NotesDetailClient(self.config, observer=ledger, clock=self.clock)
