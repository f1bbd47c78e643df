"""Placeholder: being written."""


def collect_live() -> dict | None:
    return None
