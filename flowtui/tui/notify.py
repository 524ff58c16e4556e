"""The dashboard's notifications written to its terminal. What is written (OSC 9, OSC 777 or
the bell, and when) is decided in `flowtui/notify.py`, shared with `flowtui run --notify`."""

from __future__ import annotations

from typing import Any

from textual.app import App


def tell(app: App[Any], text: str) -> None:
    """Write `text` to the terminal through the app's driver, as `App.bell` does: in order
    with the frames, never into the screen's cells. Nothing in headless mode."""
    driver = app._driver  # private: tests/test_private_apis.py
    if text and driver is not None and not app.is_headless:
        driver.write(text)


__all__ = ["tell"]
