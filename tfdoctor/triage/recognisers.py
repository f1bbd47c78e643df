"""Recognisers: what a line of a paste is, from its content.

People paste outputs without the command that printed them, so every kind is recognised by what its lines look
like: the shape of the tool's output (an nvidia-smi table's borders, lspci's `01:00.0 VGA compatible controller:`,
a kernel log's timestamp prefix, TensorFlow's `I tensorflow/...cc:123]`), or a known message from the evidence
catalogue (tfdoctor/knowledge/messages.json) wherever it appears. A command line before an output, when there is
one, names the command and settles outputs that have no shape of their own (`uname -r` prints a bare release).

Every pattern here is RE2 (tfdoctor.textmatch): linear in the input, applied once to the whole paste (multi-line
mode, so `^` is a line start), never per line. Patterns use `[ \\t]` rather than `\\s` and exclude `\\n` from negated
classes so that no match starts on one line and claims the next.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from tfdoctor import textmatch
from tfdoctor.evidence import DMESG_STAMP

# -- what a segment is ------------------------------------------------------------------------------------------

# kind -> how the report names it
KINDS = {
    "nvidia-smi": "nvidia-smi output",
    "lspci": "lspci output",
    "kernel-log": "kernel log (dmesg, journalctl or Talos)",
    "lsmod": "lsmod output",
    "modinfo": "modinfo nvidia output",
    "modprobe": "modprobe / insmod messages",
    "dkms-status": "dkms status output",
    "dkms": "DKMS build output",
    "mokutil": "mokutil --sb-state output",
    "ubuntu-drivers": "ubuntu-drivers devices output",
    "uname": "kernel release (uname)",
    "os-release": "/etc/os-release",
    "lsb-release": "lsb_release output",
    "nvidia-version": "/proc/driver/nvidia/version",
    "proc-version": "/proc/version",
    "cpuinfo": "CPU flags (/proc/cpuinfo)",
    "lscpu": "lscpu output",
    "pip-list": "pip list / pip freeze output",
    "conda-list": "conda list output",
    "nvcc": "nvcc --version output",
    "dpkg": "dpkg -l output",
    "container": "container runtime messages (docker, nvidia-container-cli, Kubernetes)",
    "installer": "NVIDIA installer messages",
    "tensorflow-log": "TensorFlow / XLA log and Python output",
    "environment": "environment variables",
    "file": "file contents",
    "container-marker": "container host name",
    "container-files": "container markers (ls of /.dockerenv, /dev/nvidia*)",
    "cgroup": "/proc/1/cgroup",
}

# The catalogue's source kinds -> the segment kind whose target reads them
CATALOGUE_KINDS = {
    "tensorflow": "tensorflow-log", "kernel": "kernel-log", "nvidia-smi": "nvidia-smi", "modprobe": "modprobe",
    "modinfo": "modinfo", "dkms": "dkms", "mokutil": "mokutil", "ubuntu-drivers": "ubuntu-drivers",
    "container": "container", "installer": "installer",
}


# -- line tags ---------------------------------------------------------------------------------------------------
# Each tag is one RE2 pattern (compiled with MULTILINE) whose match start marks the line. Earlier tags win a line.
# `start` tags open a segment of their kind; `cont` tags only continue one.

@dataclass(frozen=True)
class Tag:
    name: str
    kind: str
    pattern: str
    start: bool = True


# dmesg, dmesg -T, a raw printk level, dmesg -x's facility and level, dmesg -d's delta, dmesg -H (evidence's forms)
_KERNEL_DMESG = r"^[ \t]*" + DMESG_STAMP
_KERNEL_JOURNAL = (r"^[ \t]*(?:[A-Za-z]{3}[ \t]+\d{1,2} [\d:]{8}|\d{4}-\d\d-\d\dT[\d:.]+(?:[+-]\d{2}:?\d{2}|Z)?)"
                   r"[ \t][^ \t\n]+ kernel: ")
_KERNEL_TALOS = r"^[ \t]*(?:[^ \t\n]+: )?kern:[ \t]+[a-z]+: \[[^\]\n]{1,40}\]: "
_TF_FILE = (r"(?:tensorflow|external/local_xla|external/local_tsl|external/xla|xla|tsl|third_party)/[\w./-]+\.(?:cc|h|py)"
            r":\d+\]|^[ \t]*tensorflow/[\w./-]+\.cc:\d+\]?[ \t]*$")

TAGS: tuple[Tag, ...] = (
    # nvidia-smi's table: a segment starts at its header or a border; rows only continue it (a Markdown table is
    # also made of `| ... |` rows, but never of `+----+` borders)
    Tag("smi-head", "nvidia-smi", r"^[ \t]*\|[ \t]*NVIDIA-SMI[ \t]+\d"),
    Tag("smi-border", "nvidia-smi", r"^[ \t]*\+(?:[-=]{3,}\+?){2,}[ \t]*$|^[ \t]*\+-{20,}\+?[ \t]*$"),
    Tag("smi-row", "nvidia-smi", r"^[ \t]*\|[^\n]*[|+][ \t]*$|^[ \t]*[|+][-=|+ ]{10,}$", start=False),
    Tag("smi-date", "nvidia-smi", r"^[ \t]*[A-Z][a-z]{2} [A-Z][a-z]{2}[ \t]+\d{1,2} \d\d:\d\d:\d\d \d{4}[ \t]*$",
        start=False),
    # nvidia-smi's messages when it fails (the probe's classifier reads them; see probes/nvidia_smi.py)
    Tag("smi-error", "nvidia-smi",
        r"NVIDIA-SMI has failed because|^[ \t]*Failed to initialize NVML: |NVIDIA-SMI couldn't find libnvidia-ml\.so|"
        r"Unable to determine the device handle for GPU|^[ \t]*No devices were found[ \t]*$|"
        r"^[ \t]*(?:-?(?:ba|z|k|da|fi)?sh: )?(?:/[\w/.-]*/)?nvidia-smi: (?:command not found|not found|No such file or "
        r"directory)|"
        r"^[ \t]*zsh: command not found: nvidia-smi|^[ \t]*Command 'nvidia-smi' not found"),
    Tag("smi-cont", "nvidia-smi", r"^[ \t]*(?:NVML library version: |Make sure that the latest NVIDIA driver|"
                                  r"is installed and running|Reboot the system to recover)", start=False),
    # kernel log lines: the forms tfdoctor.evidence reads, and bare driver messages (`dmesg | grep`, `-o cat`)
    Tag("kernel", "kernel-log",
        _KERNEL_DMESG + "|" + _KERNEL_JOURNAL + "|" + _KERNEL_TALOS + "|"
        r"^[ \t]*kernel: |^[ \t]*NVRM: |^[ \t]*nvidia(?:-nvlink|-modeset|-drm|-uvm|_drm|_modeset|_uvm)?: |"
        r"^[ \t]*(?:nvidia|nouveau|nvidia-drm|nova_core|nova-core)[ \t]+[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.\d: |"
        r"^[ \t]*\[drm(?::[\w]+)?\][ \t]|^[ \t]*Disabling lock debugging due to kernel taint|^[ \t]*Lockdown: |"
        r"^[ \t]*(?:Loading of (?:unsigned )?module|PKCS#7 signature not signed)"),
    # libnvidia-container's debug log (`nvidia-container-cli -k -d /dev/tty info`): glog-style lines like TensorFlow's,
    # but from C files (nvc.c, driver.c, rpc.c); TensorFlow's own are C++ (.cc)
    Tag("container-debug", "container",
        r"^[ \t]*[IWE]\d{4} \d\d:\d\d:\d\d\.\d+[ \t]+\d+[ \t]+\w+\.c:\d+\] |"
        r"^[ \t]*-- WARNING, the following logs are for debugging purposes only --"),
    # TensorFlow / XLA / absl log lines of every release, wherever the line starts (journald or compose prefixes)
    Tag("tf", "tensorflow-log",
        r"^[ \t]*\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?:?[ \t]+[IWEF][ \t]+[\w./-]+:\d+\]|"
        r"^[ \t]*[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+[ \t]+\d+[ \t]+[\w./-]+:\d+\]|"
        r"^[ \t]*[IWEF][ \t]+[\w./-]+\.(?:cc|h):\d+\]|" + _TF_FILE + "|"
        r"^[ \t]*(?:INFO|WARNING|ERROR|FATAL):tensorflow:|"
        r"^[ \t]*WARNING: All log messages before absl::InitializeLog\(\) is called|^[ \t]*Using TensorFlow backend"),
    # what TensorFlow's log analysis (tfdoctor.tflog) reads in a line, in every release's wording, even without
    # the log prefix (an issue title, a message retyped in prose)
    Tag("tf-message", "tensorflow-log",
        r"Could not load dynamic library '|Could not dlopen library '|Couldn't open CUDA library |"
        r"Successfully opened (?:dynamic|CUDA) library |successfully opened CUDA library |failed call to cuInit|"
        r"Loaded runtime CuDNN library: |compiled to use [^ \t\n]+ instructions, but these aren't available|"
        r"The minimum required Cuda capability is|Ignoring (?:visible )?gpu device \(|"
        r"ImportError: lib[\w.+-]+\.so[\w.]*: cannot open shared object file|"
        r"CUDA runtime implicit initialization on GPU|CUDA_ERROR_[A-Z_]+|cudaError[A-Z]\w+|"
        r"Cannot dlopen some GPU libraries|kernel driver does not appear to be running on this host|"
        r"Could not create cudnn handle|failed to create cublas handle|DNN library (?:initialization failed|is not found)|"
        r"OOM when allocating tensor|ran out of memory trying to allocate|No GPU devices available on machine|"
        r"Could not find cuda drivers on your machine|TF-TRT Warning"),
    Tag("tf-print", "tensorflow-log",
        r"PhysicalDevice\(name='/physical_device:|^[ \t]*Num GPUs(?: Available)?[ \t]*:|"
        r"^[ \t]*(?:Default GPU Device|GPU available|Is built with CUDA|tf\.__version__|TensorFlow version)[ \t]*:|"
        r"^[ \t]*/(?:job:localhost/replica:0/task:0/)?device:GPU:\d+[ \t]*$|^[ \t]*Device mapping: no known devices"),
    Tag("crash", "tensorflow-log",
        r"Illegal instruction|illegal hardware instruction|Segmentation fault|Aborted \(core dumped\)|"
        r"terminated by signal SIG[A-Z]+|Floating point exception \(core dumped\)"),
    # Python tracebacks (plain and Jupyter) and the exception line that ends them
    Tag("trace", "tensorflow-log",
        r"^[ \t]*Traceback \(most recent call last\):|^[ \t]*[\w.]+[ \t]+Traceback \(most recent call last\)"),
    Tag("exc", "tensorflow-log",
        r"^[ \t]*(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Failure|Exit)(?::[ \t]|:?[ \t]*$)"),
    Tag("trace-body", "tensorflow-log",
        r"^[ \t]+File \"|^[ \t]*-+>[ \t]*\d+|^[ \t]*<ipython-input-|^[ \t]*\S+\.py in <?\w+>?\(|"
        r"^[ \t]*File [^\n]*\.py:\d+|^[ \t]*-{40,}[ \t]*$|^[ \t]*During handling of the above exception|"
        r"^[ \t]*The above exception was the direct cause", start=False),
    # lspci: `01:00.0 VGA compatible controller [0300]: NVIDIA ...` and its indented detail lines
    Tag("lspci", "lspci",
        r"^[ \t]*(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7][ \t]+[A-Za-z][^:\n]{1,60}:[ \t]"),
    Tag("lspci-detail", "lspci",
        r"^[ \t]+(?:Subsystem|Kernel driver in use|Kernel modules|Flags|Memory at|I/O ports at|Expansion ROM|"
        r"Capabilities|Physical Slot|Control|Status|Latency|Interrupt|Region \d|DeviceName|NUMA node|IOMMU group):|"
        r"^(?:Subsystem|Kernel driver in use|Kernel modules): ", start=False),
    Tag("lsmod", "lsmod",
        r"^Module[ \t]+Size[ \t]+Used by|^[a-z][a-z0-9_]{1,63}[ \t]+\d{3,9}[ \t]+\d{1,4}(?:[ \t]+[\w,-]*)?[ \t]*$"),
    Tag("modinfo-error", "modinfo", r"^[ \t]*modinfo: ERROR: Module [^ \t\n]+ not found"),
    # modinfo: fields only modinfo prints start a segment; the generic ones (name:, version:) only continue one
    # (TensorFlow's device properties print `name: GeForce GTX 1080` too)
    Tag("modinfo", "modinfo",
        r"^[ \t]*(?:filename|license|srcversion|retpoline|intree|vermagic|sig_id|signer|sig_key|sig_hashalgo|"
        r"signature|parm):[ \t]+[^ \t\n]"),
    Tag("modinfo-field", "modinfo",
        r"^[ \t]*(?:firmware|softdep|import_ns|alias|version|description|author|name|supported):"
        r"[ \t]+[^ \t\n]|^[ \t]*depends:[ \t]*[\w,-]*[ \t]*$", start=False),
    Tag("modprobe", "modprobe", r"^[ \t]*(?:modprobe|insmod|rmmod)(?:\.\w+)?: (?:ERROR|FATAL|WARNING)"),
    Tag("dkms-status", "dkms-status",
        r"^[ \t]*[\w.+-]+(?:/|,[ \t]*)\d[\w.+~:-]*(?:,[ \t]*[^,:\n]+){0,2}[ \t]*:[ \t]*"
        r"(?:installed|built|added|broken|unbuilt|installed-weak)\b"),
    Tag("dkms", "dkms",
        r"^[ \t]*(?:Error! |ERROR \(dkms apport\)|Building module:|Building initial module|Kernel preparation "
        r"unnecessary|cleaning build area|Consult /var/lib/dkms|DKMS make\.log|Running module version sanity check|"
        r"Creating symlink /var/lib/dkms|Deprecated feature: |dkms: |DKMS: |Autoinstall of module|"
        r"Installing to /lib/modules|Sign command:|Signing key:|Public certificate \(MOK\):|"
        r"File: /var/lib/dkms/[^\n]*dkms\.conf does not exist)|\(bad exit status: \d+\)"),
    Tag("mokutil", "mokutil",
        r"^[ \t]*SecureBoot (?:enabled|disabled)[ \t]*$|^[ \t]*This system doesn'?t support Secure Boot|"
        r"^[ \t]*EFI variables are not supported on this system|^[ \t]*SecureBoot validation is (?:enabled|disabled)"),
    Tag("ubuntu-drivers", "ubuntu-drivers", r"^[ \t]*== /sys/[^\n]+ ==[ \t]*$"),
    Tag("ubuntu-drivers-field", "ubuntu-drivers",
        r"^[ \t]*(?:modalias|vendor|model|driver|manual_install)[ \t]*:[ \t]", start=False),
    Tag("uname", "uname", r"^[ \t]*Linux[ \t]+[^ \t\n]+[ \t]+\d+\.\d+[^ \t\n]*[ \t]+#\d+"),
    Tag("proc-version", "proc-version", r"^[ \t]*Linux version \d+\.\d+[^ \t\n]* \("),
    Tag("nvidia-version", "nvidia-version", r"^[ \t]*NVRM version: NVIDIA "),
    Tag("nvidia-version-gcc", "nvidia-version", r"^[ \t]*GCC version: ", start=False),
    Tag("os-release", "os-release",
        r"^[ \t]*(?:NAME|VERSION|ID|ID_LIKE|PRETTY_NAME|VERSION_ID|VERSION_CODENAME|UBUNTU_CODENAME|HOME_URL|"
        r"SUPPORT_URL|BUG_REPORT_URL|PRIVACY_POLICY_URL|LOGO|ANSI_COLOR|CPE_NAME|BUILD_ID|VARIANT|VARIANT_ID|"
        r"PLATFORM_ID|DOCUMENTATION_URL|DEFAULT_HOSTNAME|IMAGE_ID|IMAGE_VERSION|SUPPORT_END|REDHAT_[A-Z_]+|"
        r"DISTRIB_ID|DISTRIB_RELEASE|DISTRIB_CODENAME|DISTRIB_DESCRIPTION)=[^\n]*$"),
    Tag("lsb-release", "lsb-release", r"^[ \t]*(?:Distributor ID|Codename):[ \t]+[^ \t\n]|^[ \t]*No LSB modules"),
    Tag("lsb-release-field", "lsb-release", r"^[ \t]*(?:Description|Release):[ \t]+[^ \t\n]", start=False),
    Tag("cpuinfo", "cpuinfo",
        r"^[ \t]*(?:processor|vendor_id|cpu family|model name|flags|Features|CPU implementer)[ \t]*:[ \t]*[^ \t\n]"),
    Tag("cpuinfo-field", "cpuinfo",
        r"^[ \t]*(?:model|stepping|microcode|cpu MHz|cache size|physical id|siblings|core id|cpu cores|apicid|"
        r"initial apicid|fpu|fpu_exception|cpuid level|wp|vmx flags|bugs|bogomips|BogoMIPS|clflush size|"
        r"cache_alignment|address sizes|power management|CPU architecture|CPU variant|CPU part|CPU revision)"
        r"[ \t]*:", start=False),
    Tag("lscpu", "lscpu", r"^[ \t]*(?:Architecture|Model name|Flags|CPU op-mode\(s\)|Vendor ID):[ \t]{2,}[^ \t\n]"),
    Tag("lscpu-field", "lscpu",
        r"^[ \t]*(?:Byte Order|Address sizes|CPU\(s\)|On-line CPU\(s\) list|CPU family|Model|Thread\(s\) per core|"
        r"Core\(s\) per (?:socket|cluster)|Socket\(s\)|Stepping|CPU (?:max|min) MHz|CPU MHz|BogoMIPS|"
        r"Virtuali[sz]ation(?: type)?|Hypervisor vendor|L\d\w? cache|NUMA node\S*|Vulnerability [^:\n]+|"
        r"Frequency boost|CPU scaling MHz|Caches \(sum of all\)|NUMA|Vulnerabilities|Flags):", start=False),
    Tag("pip-list", "pip-list",
        r"^[ \t]*Package[ \t]{2,}Version\b|^[ \t]*[A-Za-z0-9][\w.-]*(?:\[[\w,.-]+\])?==[\w.+!-]+[ \t]*$"),
    Tag("pip-row", "pip-list",
        r"^[ \t]*-{3,}[ \t]+-{3,}|^[ \t]*[A-Za-z0-9][\w.-]*[ \t]{2,}\d[\w.+!-]*(?:[ \t]+[^\n]*)?$", start=False),
    Tag("conda-list", "conda-list", r"^#[ \t]*packages in environment at |^#[ \t]*Name[ \t]+Version[ \t]+Build"),
    Tag("conda-row", "conda-list", r"^[ \t]*[A-Za-z0-9_][\w.-]*[ \t]+\d[\w.+!-]*[ \t]+[\w.+!-]+", start=False),
    Tag("nvcc", "nvcc", r"^[ \t]*nvcc: NVIDIA \(R\) Cuda compiler driver|^[ \t]*Cuda compilation tools, release \d"),
    Tag("nvcc-field", "nvcc", r"^[ \t]*(?:Copyright \(c\) \d{4}-\d{4} NVIDIA|Built on \w|Build cuda_)", start=False),
    Tag("dpkg", "dpkg",
        r"^[ \t]*Desired=Unknown/Install|^[ \t]*(?:ii|rc|hi|iU|iF|un|pn)[ \t]{1,4}[a-z0-9][\w.+:-]*[ \t]+"
        r"[\w.:+~-]+[ \t]+[\w]+"),
    Tag("dpkg-head", "dpkg", r"^[ \t]*\| Status=Not/Inst|^[ \t]*\|/ Err\?=|^[ \t]*\|\|/ Name|^[ \t]*\+\+\+-",
        start=False),
    # what the checks ask for when they cannot tell a container: `ls /.dockerenv /run/.containerenv`,
    # `ls -l /dev/nvidia*` and `cat /proc/1/cgroup`
    Tag("ls-missing", "container-files",
        r"^[ \t]*ls: cannot access '?(?:/\.dockerenv|/run/\.containerenv|/dev/nvidia[^':\n]*)'?: No such file"),
    Tag("ls-marker", "container-files",
        r"^[ \t]*(?:[-lrwxsStT.+]{10,11}[ \t]+[^\n]*[ \t])?(?:/\.dockerenv|/run/\.containerenv)[ \t]*$"),
    Tag("dev-node", "container-files",
        r"^[ \t]*c[-rwxsStT]{9}[.+]?[ \t]+\d+[ \t]+[^ \t\n]+[ \t]+[^ \t\n]+[ \t]+\d+,[ \t]*\d+[^\n]*[ \t]"
        r"/dev/nvidia[\w-]*[ \t]*$|^[ \t]*/dev/nvidia(?:\d+|ctl|-uvm|-uvm-tools|-modeset)(?:[ \t]+/dev/nvidia[\w-]*)*[ \t]*$"),
    Tag("cgroup", "cgroup", r"^[ \t]*\d{1,3}:[\w,=.]*:/[^ \t\n]*[ \t]*$"),
    Tag("container", "container",
        r"^[ \t]*(?:docker|nvidia-docker|podman|nerdctl): [Ee]rror|^[ \t]*Error response from daemon: |"
        r"nvidia-container-cli(?:\.real)?: |^[ \t]*ERRO\[\d+\]|OCI runtime (?:create|exec|start) failed|"
        r"could not select device driver|unknown or invalid runtime name: nvidia|"
        r"^[ \t]*Error: failed to create containerd task"),
)


@lru_cache(maxsize=1)
def compiled_tags() -> tuple[tuple[Tag, textmatch.Pattern], ...]:
    """Every tag's pattern compiled for whole-paste scanning (multi-line)."""
    return tuple((t, textmatch.compile(t.pattern, textmatch.MULTILINE)) for t in TAGS)


# Lines a TensorFlow segment takes after a log line even outside a code block: the continuation lines that
# TensorFlow's multi-line messages print (device properties of every release, the CPU-feature hint, NUMA).
TF_CONTINUATION = textmatch.compile(
    r"^[ \t]*(?:pciBusID|name|major|coreClock|totalMemory|Total memory|Free memory|freeMemory|deviceMemorySize|"
    r"computeCapability|memoryClockRate|pci bus id|To enable (?:them|the following)|Your kernel may have been built|"
    r"Skipping registering GPU devices|Instructions for updating|Use `?tf\.|Device interconnect|DMA: |\d+:[ \t]+[YN]|"
    r"Num GPUs|\[\[Node|Invalid argument|Cannot assign a device|Could not satisfy|with Cuda compute capability|"
    r"\d+[ \t]*$|[YN][ \t]*$)")


# -- prompts and commands ------------------------------------------------------------------------------------------

# Programs that start containers: their output is a container runtime's (`docker run ...`, `kubectl logs ...`)
CONTAINER_TOOLS = ("docker", "nvidia-docker", "podman", "nerdctl", "ctr", "kubectl", "nvidia-container-cli",
                   "docker-compose", "tensorman", "singularity", "apptainer", "enroot")
# The tools whose outputs tfdoctor reads, and the commands people run to show them. A line that is only such a
# command (no prompt) is a command line too: `nvidia-smi`, `sudo dkms status`, `lspci | grep -i nvidia`.
KNOWN_TOOLS = frozenset((
    "nvidia-smi", "lspci", "lsmod", "dmesg", "journalctl", "modinfo", "modprobe", "insmod", "dkms", "mokutil",
    "ubuntu-drivers", "uname", "lsb_release", "nvcc", "lscpu", "nvidia-container-cli", "hostnamectl", "talosctl",
    "cat", "less", "more", "head", "tail", "grep", "egrep", "echo", "printenv", "env", "pip", "pip3", "conda",
    "mamba", "docker", "nvidia-docker", "podman", "kubectl", "python", "python3", "ipython", "nvtop", "dpkg",
    "rpm", "apt", "nvidia-xrun", "prime-select", "nvidia-settings", "ls", "tensorman", "lshw", "inxi",
))
# Tools that may appear as a bare command line outside a code block (a prose line is rarely exactly one of these)
BARE_TOOLS = frozenset((
    "nvidia-smi", "lspci", "lsmod", "dmesg", "journalctl", "modinfo", "modprobe", "dkms", "mokutil",
    "ubuntu-drivers", "uname", "lsb_release", "nvcc", "lscpu", "nvidia-container-cli", "hostnamectl", "nvtop",
))

PROMPT = textmatch.compile(
    # (a conda environment, then a shell's status or job field: `(py38) [0] user@host:~/dir $`)
    r"^[ \t]*(?:\([^()\n]{1,80}\)[ \t]*)?(?:\[[\w:-]{1,20}\][ \t]+)?(?:"
    r"(?:<user>|[\w.-]{1,64})@(?:<hostname>|[\w.-]{1,253})(?:(?::|[ \t]+)[^\n$#%>]{0,300})?[ \t]*[$#%>]|"
    r"\[(?:<user>|[\w.-]{1,64})@(?:<hostname>|[\w.-]{1,253})[^\]\n]{0,300}\][$#%]|"
    r"PS [A-Za-z]:\\(?:<user>|[^<>\n]){0,300}>|[A-Za-z]:\\(?:<user>|[^<>\n]){0,300}>|"
    r"~[^ \t\n]{0,200}[ \t]*[»❯]|~[^ \t\n$#]{0,200}[$#]|➜[ \t]+[^ \t\n]+|"
    r"(?P<bare>[$#%❯»])"
    r")[ \t]*(?P<cmd>[^ \t\n][^\n]*)$", textmatch.MULTILINE)
REPL = textmatch.compile(r"^[ \t]*(?:>>>|In \[\d*\]:)(?:[ \t](?P<code>[^\n]*))?$", textmatch.MULTILINE)
REPL_MORE = textmatch.compile(r"^[ \t]*(?:\.\.\.|   \.\.\.:)(?:[ \t][^\n]*)?$", textmatch.MULTILINE)
# The banner an interactive Python prints: a session starts here, whatever ran before it
REPL_BANNER = textmatch.compile(r"^[ \t]*(?:Python \d\.\d+\.\d+[^\n]{0,40}\(|\[(?:GCC|Clang|MSC)[^\]\n]{0,80}\] on |"
                                r"Type \"help\", \"copyright\"|IPython \d)", textmatch.MULTILINE)
JUPYTER_SHELL = textmatch.compile(r"^[ \t]*!(?P<cmd>[a-z][\w.-]*(?:[ \t][^\n]*)?)$", textmatch.MULTILINE)
BARE_COMMAND = textmatch.compile(
    r"^[ \t]*(?P<cmd>(?:sudo[ \t]+(?:-[A-Za-z]+[ \t]+)*)?(?:[\w./-]+/)?(?P<tool>[a-z][\w.-]*)"
    r"(?:[ \t]+[^\n]*)?)$", textmatch.MULTILINE)
_SENTENCE_END = textmatch.compile(r"[:.?!,;]$|[ \t](?:is|are|was|the|and|but|when|which|gives|returns|shows|"
                                  r"says|prints|output|outputs|command|doesn't|does|not|to|in|on|of|it|I|my)(?:[ \t]|$)")

_REDIRECT_DUP = textmatch.compile(r"\d*[<>]&\d+|&>>?")
_WRAPPERS = frozenset(("sudo", "time", "nohup", "command", "exec", "doas", "stdbuf", "unbuffer"))


@dataclass(frozen=True)
class Command:
    """A command line the paste shows, as typed (redacted) and parsed. Never executed."""

    text: str
    argv: tuple[str, ...]  # the command proper: wrappers (sudo), leading VAR=value and later pipeline stages removed
    filters: tuple[tuple[str, ...], ...] = ()  # the later stages of its pipeline (`| grep -i nvidia`)
    env: tuple[tuple[str, str], ...] = ()  # VAR=value given before it
    line_no: int = 0
    repl: bool = False  # Python REPL input, not a shell command

    @property
    def tool(self) -> str:
        return self.argv[0].rsplit("/", 1)[-1] if self.argv else ""

    @property
    def key(self) -> str:
        """The snapshot key of its output (argv joined with "_", "/" as "%2F"), wrappers left out."""
        from tfdoctor.host import command_key

        return command_key(list(self.argv))[:200] if self.argv else ""

    def paths(self) -> list[str]:
        """The absolute paths it names (in any stage): `cat /proc/cpuinfo | grep flags` -> ["/proc/cpuinfo"]."""
        out = [a for a in self.argv[1:] if a.startswith("/")]
        for stage in self.filters:
            out += [a for a in stage[1:] if a.startswith("/")]
        return out


def _split_words(text: str) -> list[str]:
    """Shell words, with `|`, `||`, `;`, `&`, `&&` as words of their own (outside quotes). Quotes and backslashes as
    the shell reads them; an unbalanced quote ends the word at the end of the line (a pasted command line need not be
    valid shell). A few lines of plain Python: shlex costs ten times more, and a paste may hold many commands."""
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
            i += 1
        elif c in "|;&":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
            op = text[i:i + 2] if text[i:i + 2] in ("||", "&&") else c
            words.append(op)
            i += len(op)
        elif c == "'":
            j = text.find("'", i + 1)
            j = n if j < 0 else j
            cur.append(text[i + 1:j])
            in_word, i = True, j + 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n and text[j + 1] in '"\\$`':
                    cur.append(text[j + 1])
                    j += 2
                    continue
                cur.append(text[j])
                j += 1
            in_word, i = True, j + 1
        elif c == "\\" and i + 1 < n:
            cur.append(text[i + 1])
            in_word, i = True, i + 2
        else:
            cur.append(c)
            in_word, i = True, i + 1
    if in_word:
        words.append("".join(cur))
    return words


def parse_command(text: str, line_no: int = 0) -> Command | None:
    """The command a command line runs, or None when it is not one. Pure text handling: nothing is executed."""
    cmd = _parse_command(text.strip())
    return cmd if cmd is None or cmd.line_no == line_no else replace(cmd, line_no=line_no)


@lru_cache(maxsize=256)
def _parse_command(text: str) -> Command | None:
    if not text or len(text) > 1000:
        return None
    words = _split_words(_REDIRECT_DUP.sub(" ", text))  # `2>&1` is no `&`
    # `cd x && python train.py`: the output is the last command's
    for i in range(len(words) - 1, -1, -1):
        if words[i] in (";", "&&", "||", "&") and i + 1 < len(words):
            words = words[i + 1:]
            break
    stages: list[list[str]] = [[]]
    for word in words:
        if word in ("|", "|&"):
            stages.append([])
        else:
            stages[-1].append(word)
    first = stages[0]
    env: list[tuple[str, str]] = []
    while first and (first[0] in _WRAPPERS | {"-E", "-H", "-i", "-s"} or first[0] == "env" and len(first) > 1):
        first = first[1:]  # `sudo -E`, `env VAR=1 cmd`; a lone `env` is the command
        while first and first[0].startswith("-") and len(first[0]) <= 3:  # sudo -E, sudo -u root
            first = first[1:] if first[0] not in ("-u", "-g") else first[2:]
    while first and "=" in first[0] and textmatch.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=[^\n]*", first[0]):
        k, _, v = first[0].partition("=")
        env.append((k, v))
        first = first[1:]
    if first and first[0] in ("python", "python3") and first[1:3] == ["-m", "pip"]:
        first = ["pip", *first[3:]]
    if not first:
        return None
    return Command(text=text, argv=tuple(first), filters=tuple(tuple(s) for s in stages[1:] if s),
                   env=tuple(env))


def bare_command(line: str) -> Command | None:
    """A line that is nothing but a diagnostic command (`nvidia-smi`, `sudo dkms status`), else None."""
    m = BARE_COMMAND.match(line)
    if m is None or m.group("tool") not in BARE_TOOLS or len(line) > 200:
        return None
    cmd_text = m.group("cmd").strip()
    if _SENTENCE_END.search(cmd_text) is not None:
        return None
    cmd = parse_command(cmd_text)
    if cmd is None or cmd.tool not in BARE_TOOLS:
        return None
    # every word after the tool is an option, a path, a module name, a subcommand or a pipeline stage
    for word in cmd.argv[1:]:
        if not textmatch.fullmatch(r"-{1,2}[\w=.,:/*-]*|/[\w./*-]*|[a-z0-9][\w.-]{0,40}", word):
            return None
    if len(cmd.argv) > 8:
        return None
    return cmd


# -- kernel releases and CUDA_VISIBLE_DEVICES ------------------------------------------------------------------

KERNEL_RELEASE = textmatch.compile(r"^\d+\.\d+(?:\.\d+)?(?:[-+_~][\w.+~-]*)?$")
# `uname -r` quoted inline with its answer, or a "Kernel: ..." line of a system-info template (neofetch, inxi,
# hostnamectl, issue templates); the release must have the shape of one (a local part or three numbers)
INLINE_KERNEL = textmatch.compile(
    r"(?:uname -r`?[ \t]*(?:[:=]|->|gives|returns|shows|prints|is|output)?[ \t]*`?|"
    r"^[ \t*-]*(?:Kernel|kernel)(?: version| release)?\**[ \t]*[:=]\**[ \t]*(?:Linux[ \t]+)?`?|"
    r"\b[Kk]ernel\**[ \t]+`)"
    r"(?P<release>\d+\.\d+(?:\.\d+)?-[\w.+~-]+|\d+\.\d+\.\d+(?:[-+][\w.+~-]+)?)`?[ \t]*[,.;)]?[ \t]*$",
    textmatch.MULTILINE)
# (the command form may follow a shell prompt: `(py35) ~/pytorch/examples/mnist$ CUDA_VISIBLE_DEVICES=2 python main.py`,
# pytorch/examples#115; a prompt's last character follows its path or host, or stands alone as `$`; a bare `#` or `>`
# is a comment or a quote, not a prompt)
CVD_ASSIGNMENT = textmatch.compile(
    r"^[ \t]*(?:export[ \t]+|set[ \t]+|%env[ \t]+|\$env:|os\.environ\[[\"']|os\.environ\.setdefault\([\"']|"
    r"os\.putenv\([\"'])?(?P<name>CUDA_VISIBLE_DEVICES|NVIDIA_VISIBLE_DEVICES)[\"']?\]?[ \t]*"
    r"(?:=|,)[ \t]*[\"']?(?P<value>[\w,:-]*)[\"']?[ \t]*\)?[ \t]*(?:#[^\n]*)?$|"
    r"^[ \t]*(?:[^\n]{0,300}?[^ \t\n][$#%>»❯][ \t]+|[$%»❯][ \t]+)?(?:sudo[ \t]+)?(?P<name2>CUDA_VISIBLE_DEVICES)="
    r"[\"']?(?P<value2>[\w,:-]*)[\"']?[ \t]+[\w./-]|"
    # an inline code span that holds the assignment alone, in the reporter's sentence ("and set
    # `CUDA_VISIBLE_DEVICES=''`, `jax` crashes": jax-ml/jax#37668)
    r"(?:^|[ \t(])`(?P<name3>CUDA_VISIBLE_DEVICES)=[\"']?(?P<value3>[\w,:-]*)[\"']?`",
    textmatch.MULTILINE)
