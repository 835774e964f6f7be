"""The arena's logic, with no web framework in it: one battle from lease to logged row,
one voter's session state, matchmaking, where the engines are and what they are doing,
limits and pacing. Imports only `app.core` (docs/architecture.md).
"""
