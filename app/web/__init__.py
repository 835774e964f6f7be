"""The web app: the Panel server, its pages and its HTTP health and metrics routes.
Imports `app.core`, `app.arena` and `analytics` (docs/architecture.md).
"""
