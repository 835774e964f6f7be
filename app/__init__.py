"""OELLM Arena's Python package, in layers (docs/architecture.md): `core` at the bottom,
`arena` on it, `web` on that, `cli` on top."""
