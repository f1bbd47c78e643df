"""Placeholder: being written."""


def run_tf_probe(python, timeout):
    return None
