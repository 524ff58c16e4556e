"""Guards for the private attributes of dependencies that flowtui relies on.

Each dependency is pinned below its next release line in pyproject.toml (aiosqlite <0.23,
textual <9).  When raising a pin, these tests say whether the private attribute survived; a
failure names the flowtui file to fix.
"""

from __future__ import annotations

import inspect
import re
import sqlite3
import threading

import aiosqlite
from textual.app import App, ComposeResult
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.widget import Widget

RUN_IN_CONNECTION = "flowtui/store/db.py (Database.run_in_connection)"
LOG_GROW = "flowtui/tui/widgets/log_lines.py (LogLines._grow)"
APP_CLOSING = "flowtui/tui/refresh.py (RefreshMixin._closing_down)"


def changed(what: str, user: str) -> str:
    return f"{what} changed or disappeared: fix {user}, then the pin in pyproject.toml"


# -- aiosqlite: Connection._execute(fn, *args) and Connection._conn ----------------------


def test_aiosqlite_execute_queues_a_function() -> None:
    execute = getattr(aiosqlite.Connection, "_execute", None)
    what = "aiosqlite.Connection._execute"
    assert execute is not None, changed(what, RUN_IN_CONNECTION)
    assert inspect.iscoroutinefunction(execute), changed(what, RUN_IN_CONNECTION)
    params = list(inspect.signature(execute).parameters.values())
    assert [p.name for p in params[:2]] == ["self", "fn"], changed(what, RUN_IN_CONNECTION)
    assert any(p.kind is p.VAR_POSITIONAL for p in params), changed(what, RUN_IN_CONNECTION)


async def test_aiosqlite_execute_runs_on_the_connection_thread() -> None:
    def work(conn: sqlite3.Connection, x: int) -> tuple[int, int]:
        (value,) = conn.execute("SELECT ? * 2", (x,)).fetchone()
        return threading.get_ident(), value

    async with aiosqlite.connect(":memory:") as db:
        raw = getattr(db, "_conn", None)
        assert isinstance(raw, sqlite3.Connection), changed(
            "aiosqlite.Connection._conn", RUN_IN_CONNECTION
        )
        thread, value = await db._execute(work, raw, 21)
    assert value == 42, changed("aiosqlite.Connection._execute", RUN_IN_CONNECTION)
    assert thread != threading.get_ident(), changed(
        "aiosqlite.Connection._execute (not on the connection's thread)", RUN_IN_CONNECTION
    )


# -- textual: Widget._scroll_update(virtual_size) ----------------------------------------


class _Lines(ScrollView):
    DEFAULT_CSS = "_Lines { height: 10; width: 40; overflow: auto auto; }"

    def grow(self, size: Size) -> None:  # what LogLines._grow does
        self.set_reactive(Widget.virtual_size, size)
        self._scroll_update(size)
        self.refresh()


class _LinesApp(App[None]):
    def compose(self) -> ComposeResult:
        yield _Lines()


def test_textual_scroll_update_signature() -> None:
    update = getattr(Widget, "_scroll_update", None)
    what = "textual.widget.Widget._scroll_update"
    assert callable(update), changed(what, LOG_GROW)
    assert list(inspect.signature(update).parameters) == ["self", "virtual_size"], changed(
        what, LOG_GROW
    )


async def test_textual_scroll_update_updates_the_scrollbars() -> None:
    async with _LinesApp().run_test(size=(60, 20)) as pilot:
        lines = pilot.app.query_one(_Lines)
        await pilot.pause()
        assert not lines.show_vertical_scrollbar
        lines.grow(Size(30, 500))
        await pilot.pause()
        what = "textual.widget.Widget._scroll_update"
        assert lines.show_vertical_scrollbar, changed(what, LOG_GROW)
        assert lines.vertical_scrollbar.window_virtual_size == 500, changed(what, LOG_GROW)
        assert lines.max_scroll_y == 500 - lines.scrollable_content_region.height
        lines.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert lines.scroll_y == lines.max_scroll_y > 0, changed(what, LOG_GROW)


# -- textual: App._closing / App._closed -------------------------------------------------


async def test_textual_app_closing_flags() -> None:
    app = App[None]()
    for name in ("_closing", "_closed"):
        assert getattr(app, name, None) is False, changed(f"textual App.{name}", APP_CLOSING)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert not app._closing and not app._closed, changed(
            "textual App._closing/_closed (set while running)", APP_CLOSING
        )
    assert app._closing or app._closed, changed(
        "textual App._closing/_closed (not set after the app closed)", APP_CLOSING
    )


# -- textual: textual.widgets._footer.FooterKey and Footer._bindings_ready ----------------

KEY_FOOTER = "flowtui/tui/widgets/footer.py (KeyFooter.compose)"


def test_textual_footer_key_and_bindings_ready() -> None:
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    params = list(inspect.signature(FooterKey.__init__).parameters)
    expected = ["self", "key", "key_display", "description", "action", "disabled", "tooltip"]
    assert params[: len(expected)] == expected, changed("textual FooterKey(...)", KEY_FOOTER)
    assert hasattr(Footer, "_bindings_ready"), changed("textual Footer._bindings_ready", KEY_FOOTER)


# -- textual: DataTable._data and its render caches ------------------------------------------

LIST_ROWS = "flowtui/tui/widgets/workflow_list.py (WorkflowList._rewrite_cell)"


async def test_textual_data_table_cells_and_render_caches() -> None:
    from textual.widgets import DataTable
    from textual.widgets.data_table import ColumnKey, RowKey

    class _TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    app = _TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(DataTable)
        table.add_column("a", key="a")
        table.add_row("x", key="r")
        await pilot.pause()
        data = getattr(table, "_data", None)
        assert isinstance(data, dict), changed("textual DataTable._data", LIST_ROWS)
        assert data[RowKey("r")][ColumnKey("a")] == "x", changed("DataTable._data", LIST_ROWS)
        for name in ("_row_render_cache", "_cell_render_cache", "_row_renderable_cache"):
            cache = getattr(table, name, None)
            assert callable(getattr(cache, "clear", None)), changed(f"DataTable.{name}", LIST_ROWS)
        assert callable(getattr(table._line_cache, "clear", None)), changed(
            "DataTable._line_cache", LIST_ROWS
        )
        source = inspect.getsource(DataTable._clear_caches)
        for name in ("_row_render_cache", "_cell_render_cache", "_line_cache"):
            assert name in source, changed(f"DataTable.{name} (not a render cache)", LIST_ROWS)


# -- textual-serve: Server._make_app() builds the aiohttp app `flowtui web` guards -----------


def test_textual_serve_make_app_builds_the_aiohttp_app() -> None:
    from textual_serve.server import Server

    user = "flowtui/cli/webserver.py (DashboardServer._make_app)"
    make_app = getattr(Server, "_make_app", None)
    assert make_app is not None, changed("textual_serve.Server._make_app", user)
    assert inspect.iscoroutinefunction(make_app), changed("textual_serve.Server._make_app", user)
    for method in ("handle_index", "handle_websocket", "on_startup"):
        assert hasattr(Server, method), changed(f"textual_serve.Server.{method}", user)


# -- textual: App._driver.write(text), as App.bell and App.copy_to_clipboard use it -----------


def test_textual_app_writes_through_its_driver() -> None:
    from textual.driver import Driver

    user = "flowtui/tui/notify.py (tell)"
    assert "_driver" in inspect.getsource(App.__init__), changed("textual App._driver", user)
    assert callable(getattr(Driver, "write", None)), changed("textual Driver.write", user)
    assert "self._driver.write" in inspect.getsource(App.bell), changed("textual App.bell", user)


# -- procrastinate: App._worker(**options) and Worker._log_extra(action, context, job_result) --


def test_procrastinate_worker_log_extras() -> None:
    import procrastinate
    from procrastinate.worker import Worker

    user = "flowtui/worker/queue.py (quiet_job_logs)"
    assert callable(getattr(procrastinate.App, "_worker", None)), changed("App._worker", user)
    params = list(inspect.signature(Worker._log_extra).parameters)
    assert params[:4] == ["self", "action", "context", "job_result"], changed(
        "procrastinate Worker._log_extra", user
    )
    assert "self._log_extra(" in inspect.getsource(Worker), changed("Worker._log_extra", user)
    assert "self.logger" in inspect.getsource(Worker), changed("Worker.logger", user)


# -- docs/architecture.md lists every one of them ----------------------------------------------


def test_the_architecture_doc_names_every_private_api_user() -> None:
    """Each flowtui file named above is named in docs/architecture.md's "Private APIs" section."""
    from pathlib import Path

    here = Path(__file__)
    users = set(re.findall(r'"flowtui/([\w/]+\.py) \(', here.read_text()))
    doc = (here.parents[1] / "docs" / "architecture.md").read_text()
    section = doc.split("## Private APIs", 1)[1].split("\n## ", 1)[0]
    assert len(users) >= 6
    missing = sorted(user for user in users if f"`{user}`" not in section)
    assert not missing, f"docs/architecture.md's Private APIs section lacks {missing}"
