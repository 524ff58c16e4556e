"""The SQLite run history: schema and migrations, the RunStore (which implements the
engine's ports), the trigger log, and the sink that feeds it from the bus."""

from flowtui.store.db import (
    SCHEMA_VERSION,
    SchemaTooNewError,
    StoreBusyError,
    StoreError,
    default_db_path,
)
from flowtui.store.runstore import RunStore
from flowtui.store.sink import StoreSink

__all__ = [
    "SCHEMA_VERSION",
    "RunStore",
    "SchemaTooNewError",
    "StoreBusyError",
    "StoreError",
    "StoreSink",
    "default_db_path",
]
