"""Step executors: one module per step type the runner delegates to."""
