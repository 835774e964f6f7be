"""Inference clients: one small async interface (base.py) over TGI and OpenAI-compatible engines."""
