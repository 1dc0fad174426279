"""DuckDB warehouse: schema (SQL files), writes, reads. Knows nothing about Dagster."""

from pgy_pipeline.warehouse.db import PublishError, Warehouse, WarehouseError
from pgy_pipeline.warehouse.migrations import LATEST_VERSION, SchemaTooNewError

__all__ = ["LATEST_VERSION", "PublishError", "SchemaTooNewError", "Warehouse", "WarehouseError"]
