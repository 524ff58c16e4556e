"""flowtui: run and watch DAG workflows from the terminal."""

__version__ = "0.1.0"
