"""The TensorFlow-release advisor as a finding: the newest TensorFlow that runs with the driver this machine has
and its GPUs, with the exact install line, for machines whose driver cannot change (a shared server, a cloud image,
a cluster node)."""

from __future__ import annotations

from tfdoctor.checks import check
from tfdoctor.checks.commands import interpreter_cmd
from tfdoctor.checks.cuda import kernel_driver_version, tf_version_of
from tfdoctor.checks.pyenv import tf_install_line
from tfdoctor.model import Fix, info, ok, skip, warn


def _gpus(facts) -> list[tuple[str, str | None]]:
    from tfdoctor.checks.tensorflow import machine_gpus

    return machine_gpus(facts)


def _python_minor(facts) -> str | None:
    v = getattr(getattr(facts.env, "python", None), "version", None) or getattr(facts.tensorflow, "python_version",
                                                                                 None)
    parts = (v or "").split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit() else None


def _key(version: str) -> tuple[int, ...]:
    from tfdoctor.knowledge.loader import parse_version

    return parse_version(version)[:2]


@check(
    "compat.tf-for-driver",
    area="compat",
    title="Newest TensorFlow for this driver and GPU",
    needs=("nvml", "driver", "pci", "env", "pyenv"),
    after=("driver.nvidia-module", "nvml.init"),
    what="Takes the loaded driver's version, each GPU's compute capability and the Python version, and finds the "
         "newest TensorFlow release whose official Linux wheel runs with all three: its CUDA's minimum driver "
         "(NVIDIA's minor-version compatibility floor; the toolkit's own driver where a GPU needs PTX JIT), kernels "
         "for every GPU, and a wheel for this Python.",
    why="On a machine whose driver cannot change (a shared server, a cloud image, a cluster node) the question is "
        "not how to upgrade the driver but which TensorFlow to install; a too-new release silently runs on the "
        "CPU, a too-old one wastes a faster release that would have worked.",
    fix="Install the release named, pinned: `python -m pip install 'tensorflow[and-cuda]==X.Y.*'` (TensorFlow 2.13 "
        "and older need CUDA and cuDNN installed separately); or upgrade the driver if you can.",
    links=("https://www.tensorflow.org/install/source#gpu",
           "https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html"),
)
def check_tf_for_driver(facts):
    driver = kernel_driver_version(facts)
    if not driver:
        return skip("compat.tf-for-driver", "The NVIDIA driver's version is unknown (no driver loaded, or nothing "
                                            "recorded it)")
    from tfdoctor.knowledge.advisor import newest_tensorflow

    gpus = _gpus(facts)
    ccs = sorted({cc for _, cc in gpus if cc})
    py = _python_minor(facts)
    advice = newest_tensorflow(driver, ccs, py)
    names = ", ".join(sorted({name for name, _ in gpus})) or "the GPU"
    basis = [f"driver {driver}", f"{names}: compute capability {', '.join(ccs)}" if ccs else
             "the GPUs' compute capability is unknown: only the driver was considered"]
    if py:
        basis.append(f"Python {py}")
    passed = [f"TensorFlow {v}: {why}" for v, why in advice.passed_over[:4]]
    installed = tf_version_of(facts)
    if advice.build is None:
        from tfdoctor.knowledge.loader import newest_legacy_for_driver, tf_versions

        first = tf_versions()[0].version
        old = newest_legacy_for_driver(driver)
        if old is not None:
            # the build records start at 1.15: an older 1.x release's CUDA may still fit this driver
            return info("compat.tf-for-driver", f"No TensorFlow release since {first} runs with {', '.join(basis)}; "
                        f"TensorFlow {old.version} (CUDA {old.cuda}, cuDNN {old.cudnn}) is the newest older release "
                        "whose CUDA it runs", *passed)
        return info("compat.tf-for-driver", f"No TensorFlow release with GPU support runs with {', '.join(basis)}",
                    *passed)
    b = advice.build
    line = tf_install_line(facts, b.version)
    notes = []
    if advice.ptx_ccs:
        notes.append(f"compute capability {', '.join(advice.ptx_ccs)} runs it through PTX JIT: the first start "
                     "compiles kernels for minutes (set CUDA_CACHE_MAXSIZE so they are kept)")
    if not b.has_and_cuda_extra:
        notes.append(f"TensorFlow {b.version} has no [and-cuda] extra: install CUDA {b.cuda} and cuDNN {b.cudnn} "
                     "as well")
    verify = (f"{interpreter_cmd(facts)} -c \"import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))\"",)
    fix = Fix(f"If this machine keeps driver {driver}: install TensorFlow {b.version}, the newest release that runs "
              f"with it on {names}.", (line,) if line else (), verify=verify)
    summary = f"TensorFlow {b.version} is the newest release that runs with {', '.join(basis)}"
    if installed and _key(installed) == _key(b.version):
        return ok("compat.tf-for-driver", f"The installed TensorFlow {installed} is the newest release that runs with "
                  f"{', '.join(basis)}", *notes)
    if installed and _key(installed) > _key(b.version):
        return warn("compat.tf-for-driver", f"The installed TensorFlow {installed} does not run with "
                    f"{', '.join(basis)}; {b.version} is the newest that does", *passed, *notes, fix=fix)
    return info("compat.tf-for-driver", summary + (f" (installed: {installed})" if installed else ""), *notes, *passed,
                fix=fix)
