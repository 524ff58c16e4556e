"""The dashboard reloads `<folder>/.circleci/config.yml` live, like the folder's own files."""

from __future__ import annotations

import textwrap
from pathlib import Path

from textual.widgets import Static

from flowtui.tui.app import FlowApp
from flowtui.tui.widgets.dag_view import DagView
from flowtui.tui.widgets.workflow_list import WorkflowList
from tests.tui.test_app import SIZE, select, until, watcher_on

CONFIG = """\
version: 2.1
jobs:
  build: {steps: [{run: echo build}]}
  test: {steps: [{run: echo test}]}
  deploy: {steps: [{run: echo deploy}]}
workflows:
  ci:
    jobs:
      - build
      - test: {requires: [build]}
"""


def banner_text(app: FlowApp) -> str:
    return str(app.query_one("#banner", Static).render())


async def test_editing_the_config_updates_the_dag_and_a_broken_edit_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "project"
    config = folder / ".circleci" / "config.yml"
    config.parent.mkdir(parents=True)
    config.write_text(CONFIG)
    app = FlowApp(folder, db_path=tmp_path / "h.db", triggers=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "ci")
        dag = app.query_one(DagView)
        await until(pilot, lambda: set(dag.node_names) == {"build", "test"})
        await watcher_on(pilot, app)

        config.write_text(CONFIG + "      - deploy: {requires: [test]}\n")
        await until(pilot, lambda: "deploy" in dag.node_names, timeout=5)

        config.write_text(CONFIG + "      - deploy: {requires: [tset]}\n")
        banner = app.query_one("#banner", Static)
        await until(pilot, lambda: banner.has_class("-visible"), timeout=5)
        assert f"{config}:11:" in banner_text(app), banner_text(app)
        assert "requires `tset`" in banner_text(app)
        assert set(dag.node_names) == {"build", "test", "deploy"}, "the last good one stays"
        entry = app.selected_entry
        assert entry is not None and entry.workflow is not None
        assert set(entry.workflow.steps) == {"build", "test", "deploy"}

        config.write_text(CONFIG)
        await until(pilot, lambda: not banner.has_class("-visible"), timeout=5)
        await until(pilot, lambda: set(dag.node_names) == {"build", "test"}, timeout=5)


async def test_a_config_created_after_opening_is_listed(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "own.yaml").write_text(
        textwrap.dedent(
            """\
            name: own
            steps:
              a: {run: 'true'}
            """
        )
    )
    app = FlowApp(folder, db_path=tmp_path / "h.db", triggers=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        table = app.query_one(WorkflowList)
        assert table.row_count == 1
        await watcher_on(pilot, app)
        (folder / ".circleci").mkdir()
        (folder / ".circleci" / "config.yml").write_text(CONFIG)
        await until(pilot, lambda: table.row_count == 2, timeout=5)
        await select(pilot, app, "ci")
        # and the new folder is watched from now on: the watch was started again with it,
        # and a probe seen after the restart was seen by the new watch
        await watcher_on(pilot, app)
        config = folder / ".circleci" / "config.yml"
        config.write_text(CONFIG + "      - deploy: {requires: [test]}\n")
        dag = app.query_one(DagView)
        await until(pilot, lambda: "deploy" in dag.node_names, timeout=5)
