"""Fixtures of the warehouse tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch):
    """The raw store fsyncs every page; durability is not what these tests check, speed matters."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)
