from __future__ import annotations

import importlib.util

# While the dashboard's widgets are being built, the app tests wait for them.
_WIDGETS = ("flowtui.tui.widgets.dag_view", "flowtui.tui.widgets.log_view")
collect_ignore = [] if all(importlib.util.find_spec(m) for m in _WIDGETS) else ["test_app.py"]
