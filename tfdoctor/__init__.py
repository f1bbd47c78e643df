"""tfdoctor: a doctor for TensorFlow on Linux machines with NVIDIA GPUs.

Python API (docs/api.md): `tfdoctor.check(...)` runs the same check as `tfdoctor check` and returns its Report.
Importing this package imports nothing else: the engine is loaded when `check` is first called.
"""

__version__ = "0.1.0"

__all__ = ["Report", "__version__", "check"]


def check(snapshot=None, **options):
    """Diagnose this machine (or replay `snapshot`) and return the Report; see tfdoctor.api.check for options."""
    from tfdoctor.api import check as _check

    return _check(snapshot, **options)


def __getattr__(name):
    if name == "Report":
        from tfdoctor.model import Report

        return Report
    raise AttributeError(f"module 'tfdoctor' has no attribute {name!r}")
