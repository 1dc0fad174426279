"""The catalog (tables, columns, COMMENTs) is built once per code version and read from the cache after."""

from __future__ import annotations

import os
import time

import pytest

from pgy_pipeline.warehouse import catalog as catalog_module
from pgy_pipeline.warehouse.catalog import STALE_AFTER_S, build_catalog, catalog, code_key


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    catalog.cache_clear()
    yield tmp_path / "pgy-pipeline"
    catalog.cache_clear()


def _no_build():
    raise AssertionError("built again: the cache was not read")


def test_the_second_process_reads_the_catalog_from_the_cache(cache_home, monkeypatch):
    first = catalog()
    assert first == build_catalog() and "kol_engagement" in first
    [cached] = cache_home.glob("catalog-*.json")
    catalog.cache_clear()  # as a new process would start
    monkeypatch.setattr(catalog_module, "build_catalog", _no_build)
    assert catalog() == first
    assert [c.name for c in catalog()["kol_engagement"].columns][:3] == ["user_id", "label", "as_of_date"]
    assert cached.exists()


def test_a_damaged_cache_is_built_again_and_replaced(cache_home):
    catalog()
    [cached] = cache_home.glob("catalog-*.json")
    for damage in ('[{"name": "notes"}]', "not json", "[]"):
        cached.write_text(damage, encoding="utf-8")
        catalog.cache_clear()
        assert catalog() == build_catalog()
        assert cached.read_text(encoding="utf-8") != damage


def test_a_cache_directory_that_cannot_be_made_is_built_around(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # mkdir fails under a file, even for root
    catalog.cache_clear()
    try:
        assert catalog() == build_catalog()
    finally:
        catalog.cache_clear()


def test_the_cache_key_changes_with_any_migration_or_python_file(tmp_path):
    (tmp_path / "sql").mkdir()
    migration, module = tmp_path / "sql" / "001_initial.sql", tmp_path / "engagement.py"
    migration.write_text("CREATE TABLE t (a INT);", encoding="utf-8")
    module.write_text("X = 1\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not code", encoding="utf-8")
    first = code_key(tmp_path)
    (tmp_path / "notes.txt").write_text("still not code", encoding="utf-8")
    assert code_key(tmp_path) == first
    migration.write_text("CREATE TABLE t (a INT); COMMENT ON TABLE t IS 'new';", encoding="utf-8")
    second = code_key(tmp_path)
    module.write_text("X = 2\n", encoding="utf-8")
    assert len({first, second, code_key(tmp_path)}) == 3


def test_writing_the_cache_removes_other_versions_unused_for_a_week(cache_home):
    cache_home.mkdir(parents=True)
    old, recent = cache_home / "catalog-old.json", cache_home / "catalog-recent.json"
    for f in (old, recent):
        f.write_text("[]", encoding="utf-8")
    week_ago = time.time() - STALE_AFTER_S - 60
    os.utime(old, (week_ago, week_ago))
    catalog()
    assert not old.exists() and recent.exists()
    assert len(list(cache_home.glob("catalog-*.json"))) == 2  # this version's and the recent one


def test_without_a_home_directory_it_is_built(monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> None:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(catalog_module.Path, "home", staticmethod(no_home))
    catalog.cache_clear()
    try:
        assert catalog() == build_catalog()
    finally:
        catalog.cache_clear()
