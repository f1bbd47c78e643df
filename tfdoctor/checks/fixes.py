"""The commands a fix prints, chosen for this machine's distribution and GPU (pure functions of facts)."""

from __future__ import annotations

from tfdoctor import safe


def distro_family(env) -> str:
    """"ubuntu", "debian", "fedora", "rhel", "suse", "arch" or "unknown" from the env facts' os-release."""
    if env is None:
        return "unknown"
    ids = {(getattr(env, "os_id", None) or "").lower(), *[x.lower() for x in getattr(env, "os_id_like", ()) or ()]}
    for family, names in (("ubuntu", {"ubuntu", "pop", "linuxmint", "elementary", "zorin"}),
                          ("debian", {"debian"}), ("fedora", {"fedora"}),
                          ("rhel", {"rhel", "centos", "rocky", "almalinux", "ol"}),
                          ("suse", {"suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed"}),
                          ("arch", {"arch", "manjaro", "endeavouros"})):
        if ids & names:
            return family
    return "unknown"


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


def install_driver_commands(pci, driver, env) -> tuple[str, ...]:
    """The commands that install the right NVIDIA driver here, then the reboot that is owed."""
    family = distro_family(env)
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
    return "sudo update-initramfs -u   # or: sudo dracut --force"
