"""The SQLite run history: schema, the RunStore API, and the sink that feeds it from the bus."""

from flowtui.store.db import (
    SCHEMA_VERSION,
    SchemaTooNewError,
    StoreBusyError,
    StoreError,
    default_db_path,
)
from flowtui.store.owner import Owner
from flowtui.store.records import (
    ApprovalRecord,
    AttemptRecord,
    CommandRecord,
    EventRecord,
    LogRecord,
    RunRecord,
    StepRecord,
)
from flowtui.store.runstore import NewStep, RunStore
from flowtui.store.sink import StoreSink

__all__ = [
    "SCHEMA_VERSION",
    "ApprovalRecord",
    "AttemptRecord",
    "CommandRecord",
    "EventRecord",
    "LogRecord",
    "NewStep",
    "Owner",
    "RunRecord",
    "RunStore",
    "SchemaTooNewError",
    "StepRecord",
    "StoreBusyError",
    "StoreError",
    "StoreSink",
    "default_db_path",
]
