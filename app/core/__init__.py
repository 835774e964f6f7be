"""The ground floor: settings, the language/model registry, the battle log (DuckDB), the
inference clients and the engine probe, interface strings, metrics.

Imports nothing else of the project; every other layer builds on it (docs/architecture.md).
"""
