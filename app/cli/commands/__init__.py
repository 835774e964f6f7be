"""CLI commands that live in their own module; registered in app/cli/main.py."""
