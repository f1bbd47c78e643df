"""The TensorFlow-release advisor: for a machine that cannot change its NVIDIA driver, the newest TensorFlow release
whose official Linux wheel runs with that driver and that GPU (and that Python).

A question asked of the knowledge base (tensorflow_builds.json: each release's CUDA, Python range and compiled
kernels; cuda_drivers.json: each CUDA's minimum driver), so every answer is traceable to the published tables in
reference/knowledge.md 1.1, 2 and 3. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor.knowledge.loader import TFBuild, cc_support, driver_at_least, min_driver_for_cuda, tf_versions


@dataclass(frozen=True)
class Advice:
    """The release to install (None: no release fits), the GPUs that run it through PTX JIT (slow first start), and
    why each newer release was passed over."""

    build: TFBuild | None
    ptx_ccs: tuple[str, ...] = ()
    passed_over: tuple[tuple[str, str], ...] = ()  # (release, why)


def why_not(build: TFBuild, driver: str, ccs: list[str], python: str | None) -> tuple[str | None, tuple[str, ...]]:
    """Why `build` cannot run here (None when it can), and the compute capabilities it would run through PTX."""
    if build.extra.get("package", "tensorflow") != "tensorflow" or not build.cuda:
        return "no `tensorflow` GPU wheel for Linux", ()
    if python and not build.supports_python(python):
        return f"no wheel for Python {python} (it supports {build.python_min} to {build.python_max})", ()
    req = min_driver_for_cuda(build.cuda)
    floor = req.minor_compat_floor or req.toolkit_driver
    if floor and not driver_at_least(driver, floor):
        return f"its CUDA {build.cuda} needs driver {floor} or newer", ()
    ptx = []
    for cc in ccs:
        how = cc_support(build, cc)
        if how == "none":
            return f"it has no kernels for compute capability {cc}", ()
        if how == "ptx":
            # minor-version compatibility does not cover PTX JIT: the toolkit's own driver is needed (knowledge.md 3.1)
            if req.toolkit_driver and not driver_at_least(driver, req.toolkit_driver):
                return (f"compute capability {cc} runs it only through PTX JIT, which needs driver "
                        f"{req.toolkit_driver} or newer"), ()
            ptx.append(cc)
    return None, tuple(ptx)


def newest_tensorflow(driver: str, ccs: list[str] | tuple[str, ...] = (), python: str | None = None) -> Advice:
    """The newest TensorFlow that runs with `driver` ('470.239.06') on GPUs of compute capabilities `ccs` ('3.7')
    under Python `python` ('3.10'); every GPU must be served."""
    passed: list[tuple[str, str]] = []
    for build in reversed(tf_versions()):
        reason, ptx = why_not(build, driver, list(ccs), python)
        if reason is None:
            return Advice(build, ptx, tuple(passed))
        passed.append((build.version, reason))
    return Advice(None, (), tuple(passed))
