"""Agents: LangGraph graphs served as models named `agent:<graph>` (see `runner.py`)."""
