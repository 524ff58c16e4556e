"""The execution core: DAG, states, events, bus, runner and step executors.

Nothing in this package imports the UI (textual); a test enforces it.
"""
