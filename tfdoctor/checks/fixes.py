"""The commands a fix prints, chosen for this machine's distribution and GPU (pure functions of facts)."""

from __future__ import annotations

from functools import lru_cache

from tfdoctor import safe, textmatch
from tfdoctor.model import Alternative


@lru_cache(maxsize=1)
def _distro_data() -> dict:
    from tfdoctor.knowledge.loader import _load

    return _load("distro_packages.json")


def distro_family(env, kernel: str | None = None) -> str:
    """"ubuntu", "debian", "fedora", "rhel", "suse", "arch" or "unknown": from /etc/os-release, else (a paste without
    it) from the running kernel's flavour (`-generic` is Ubuntu's, `.fc40.` Fedora's, `-zen` Arch's linux-zen)."""
    if env is None and not kernel:
        return "unknown"
    ids = {(getattr(env, "os_id", None) or "").lower(), *[x.lower() for x in getattr(env, "os_id_like", ()) or ()]}
    for family, names in (("ubuntu", {"ubuntu", "pop", "linuxmint", "elementary", "zorin"}),
                          ("debian", {"debian"}), ("fedora", {"fedora"}),
                          ("rhel", {"rhel", "centos", "rocky", "almalinux", "ol"}),
                          ("suse", {"suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed"}),
                          ("arch", {"arch", "manjaro", "endeavouros", "cachyos", "garuda"})):
        if ids & names:
            return family
    if ids - {""}:
        return "unknown"  # an os-release we do not know: its kernel's name says nothing surer
    kernel = getattr(env, "kernel_release", None) or kernel or ""
    for rec in _distro_data()["kernel_flavours"]:
        if kernel and textmatch.search(rec["suffix_pattern"], kernel):
            return rec["family"]
    return "unknown"


def kernel_or_uname(kernel: str | None) -> str:
    """The running kernel's release for a command: the recorded one when it has a kernel release's shape, else the
    shell's `$(uname -r)` (never text from outside that could carry shell syntax)."""
    return safe.kernel_release(kernel) or "$(uname -r)"


def _arch_headers(kernel: str | None) -> str:
    for rec in _distro_data()["arch"]["headers_by_kernel_suffix"]:
        if kernel and textmatch.search(rec["suffix_pattern"], kernel):
            return rec["headers"]
    return "linux-headers"


def rebuild_module(env, pci, kernel: str | None,
                   family: str | None = None) -> tuple[tuple[str, ...], tuple[Alternative, ...]]:
    """(commands, alternatives) that build the NVIDIA module for the running kernel on this distribution (`family`:
    the distribution family the evidence names, where the caller knows it better than the environment says)."""
    family = family or distro_family(env, kernel)
    k = kernel_or_uname(kernel)
    if family in ("ubuntu", "debian"):
        return (f"sudo apt install dkms linux-headers-{k}", f"sudo dkms autoinstall -k {k}", "sudo reboot"), ()
    if family in ("fedora", "rhel"):
        cmds = tuple(c.replace("KERNEL", k) for c in _distro_data()["fedora"]["rebuild"])
        return (*cmds, "sudo reboot"), ()
    if family == "arch":
        arch = _distro_data()["arch"]
        headers = _arch_headers(kernel)
        devs = tuple(getattr(pci, "nvidia_devices", ()) or ())
        pre_turing = [d for d in devs if getattr(d, "kernelopen", None) is False]
        legacy = (f"the proprietary module, which GPUs older than Turing (GTX 16xx) need: nvidia-dkms where the "
                  f"repositories still carry the 580 driver, {arch['dkms_legacy_580']} from the AUR since 590 "
                  f"({arch['dkms_legacy_470']} for Kepler); with {headers}")
        if pre_turing:
            return (), (Alternative(legacy, ()),)
        return (f"sudo pacman -S --needed {arch['dkms_open']} {headers}", "sudo reboot"), (Alternative(legacy, ()),)
    return (f"sudo dkms autoinstall -k {k}", "sudo reboot"), ()


# Ubuntu driver branches published as nvidia-driver-<B> (knowledge.md 7.1, canonical/nvidia-graphics-drivers).
# Used only to turn a minimum driver version into the package to type.
UBUNTU_BRANCHES = (510, 515, 520, 525, 530, 535, 545, 550, 560, 565, 570, 575, 580, 590, 595)


def ubuntu_driver_package(min_version: str) -> str:
    """The smallest Ubuntu `nvidia-driver-<branch>` whose branch is at least `min_version`'s ('525.60.13' -> 525)."""
    try:
        need = int(min_version.split(".")[0])
    except ValueError:
        need = UBUNTU_BRANCHES[-1]  # no minimum we can read: the newest branch satisfies any
    branch = next((b for b in UBUNTU_BRANCHES if b >= need), UBUNTU_BRANCHES[-1])
    return f"nvidia-driver-{branch}"


def newer_driver_commands(facts, need: str) -> tuple[str, ...]:
    """Install a driver at least `need` on this distribution: Ubuntu's branch package named by the version, elsewhere
    the distribution's current driver (newer than any minimum TensorFlow needs) or the GPU's branch."""
    if distro_family(facts.env) == "ubuntu":
        return (f"sudo apt install {ubuntu_driver_package(need)}", "sudo reboot")
    return tuple(install_driver_commands(facts.pci, facts.driver, facts.env))


def compute_library_command(env, branch: str | None, reinstall: bool = False) -> str | None:
    """apt's command for the driver's user-space CUDA library (libcuda) of `branch`: Ubuntu's libnvidia-compute-<B>
    (Debian: from NVIDIA's CUDA repository), marked as such where the distribution is not known; None elsewhere."""
    branch = branch if branch and branch.isdigit() and len(branch) == 3 else None
    family = distro_family(env)
    if branch is None or family not in ("ubuntu", "debian", "unknown"):
        return None
    cmd = f"sudo apt install {'--reinstall ' if reinstall else ''}libnvidia-compute-{branch}"
    return cmd if family != "unknown" else cmd + "   # Ubuntu/Debian (NVIDIA's repository)"


def _num(branch: str | None) -> int | None:
    digits = "".join(c for c in (branch or "")[:3] if c.isdigit())
    return int(digits) if len(digits) == 3 else None


def _last_supported_branch(pci) -> str | None:
    """The newest driver branch that still drives every NVIDIA GPU here (NVIDIA's legacy tables), if any is legacy."""
    branches = [b for d in getattr(pci, "nvidia_devices", ()) or () if (b := getattr(d, "last_branch", None))]
    return min(branches, key=lambda b: _num(b) or 0) if branches else None


def _usable_recommendation(pci, driver) -> str | None:
    """ubuntu-drivers' recommended package, unless it is a branch newer than the GPU's last supported one (it
    recommends what the archive has; a legacy GPU then needs its legacy branch)."""
    # ubuntu-drivers' output is machine text: only a package-shaped name may enter `apt install` (tfdoctor/safe.py)
    rec = safe.package(getattr(driver, "recommended_package", None) if driver else None)
    if not rec:
        return None
    last = _num(_last_supported_branch(pci))
    rec_n = _num(rec.split("nvidia-driver-")[-1].split("-")[0])
    return None if last and rec_n and rec_n > last else rec


def recommended_branch(pci, driver) -> str | None:
    """The driver branch for this machine: ubuntu-drivers' recommendation, else the GPUs' last supported branch."""
    rec = _usable_recommendation(pci, driver)
    if rec:
        digits = "".join(ch for ch in rec.split("nvidia-driver-")[-1].split("-")[0] if ch.isdigit())
        if digits:
            return digits
    return _last_supported_branch(pci)


def recommended_package(pci, driver, env) -> str | None:
    """The package to install, named exactly (e.g. nvidia-driver-470), when it can be known."""
    rec = _usable_recommendation(pci, driver)
    if rec:
        return rec
    branch = recommended_branch(pci, driver)
    family = distro_family(env)
    if family == "ubuntu" and branch:
        return f"nvidia-driver-{branch}"
    return None


def install_driver_commands(pci, driver, env, kernel: str | None = None) -> tuple[str, ...]:
    """The commands that install the right NVIDIA driver here, then the reboot that is owed (the distribution from
    os-release, else from the flavour of the kernel named: the running one, or the one a build failed for)."""
    family = distro_family(env, kernel or getattr(driver, "kernel_release", None))
    pkg = recommended_package(pci, driver, env)
    branch = recommended_branch(pci, driver)
    if family == "ubuntu" or (pkg and pkg.startswith("nvidia-driver-")):
        first = f"sudo apt install {pkg}" if pkg else "sudo ubuntu-drivers install"
        return (first, "sudo reboot")
    if family == "debian":
        name = "nvidia-tesla-470-driver" if branch == "470" else "nvidia-driver"
        return (f"sudo apt install {name} firmware-misc-nonfree", "sudo reboot")
    if family == "fedora":
        name = f"akmod-nvidia-{branch}xx" if branch in ("470", "390", "340") else "akmod-nvidia"
        return (f"sudo dnf install {name}  # from RPM Fusion (nonfree)", "sudo reboot")
    if family == "rhel":
        return ("sudo dnf module install nvidia-driver:latest-dkms  # from NVIDIA's CUDA repository", "sudo reboot")
    if family == "suse":
        return ("sudo zypper install-new-recommends --repo NVIDIA", "sudo reboot")
    if family == "arch":
        return ("sudo pacman -S nvidia-open" if branch is None else "sudo pacman -S nvidia", "sudo reboot")
    return ("# install NVIDIA's driver for your distribution: https://www.nvidia.com/Download/index.aspx",
            "sudo reboot")


def install_branch(env, branch: int) -> tuple[tuple[str, ...], str]:
    """(commands, what they install) for a given proprietary driver branch on this distribution; commands are empty
    where the branch is not in the distribution's own repositories (Arch: the AUR)."""
    family = distro_family(env)
    if family == "ubuntu":
        return (f"sudo apt install nvidia-driver-{branch}", "sudo reboot"), f"nvidia-driver-{branch}"
    if family == "debian":
        pkg = {470: "nvidia-tesla-470-driver", 390: "nvidia-legacy-390xx-driver"}.get(branch, "nvidia-driver")
        return (f"sudo apt install {pkg} firmware-misc-nonfree", "sudo reboot"), pkg
    if family in ("fedora", "rhel"):
        pkg = f"akmod-nvidia-{branch}xx" if branch in (470, 390, 340) else "akmod-nvidia"
        return (f"sudo dnf install {pkg}", "sudo reboot"), f"{pkg} (RPM Fusion)"
    if family == "arch":
        pkg = _distro_data()["arch"].get(f"dkms_legacy_{branch}") or f"nvidia-{branch}xx-dkms"
        return (), f"{pkg} from the AUR"
    return (), f"the NVIDIA {branch} driver of your distribution"


def initramfs_command(env) -> str:
    family = distro_family(env)
    if family in ("ubuntu", "debian"):
        return "sudo update-initramfs -u"
    if family in ("fedora", "rhel"):
        return "sudo dracut --force"
    if family == "suse":
        return "sudo mkinitrd"
    if family == "arch":
        return "sudo mkinitcpio -P"
    # an unknown distribution: one command that runs whichever of the two tools it has
    return "if command -v update-initramfs >/dev/null; then sudo update-initramfs -u; else sudo dracut --force; fi"


def cudnn_wheel_pin(built: str, cuda_major: str | None = None) -> str | None:
    """The pip requirement for a cuDNN at least `built` within its major (cuDNN 8 and newer come as wheels per CUDA
    major): 'nvidia-cudnn-cu12>=8.9.4,<9'. cuDNN 8 before 8.9 came as CUDA 11 wheels only, 8.9 and 9 as CUDA 12 ones,
    where the CUDA in use is not known. None for a cuDNN without wheels (7 and older) or an unreadable version."""
    major = built.split(".")[0]
    if not major.isdigit() or int(major) < 8:
        return None
    if not cuda_major:
        parts = tuple(int(x) for x in built.split(".")[:2] if x.isdigit())
        cuda_major = "11" if major == "8" and parts < (8, 9) else "12"
    return f"'nvidia-cudnn-cu{cuda_major}>={built},<{int(major) + 1}'"
