"""Redaction: what must never leave the machine, in snapshots and in every report format.

Replaced with placeholders: GPU UUIDs and serial numbers, bare UUIDs, MAC addresses (`:` or `-` separated, and longer
InfiniBand hardware addresses), IP addresses where they are clearly addresses, host names (with their domain),
user names (in home and scratch directories, prompts, `user@host`, `user=`, `uid=N(name)`), and conda environment
names in paths.

Two rules keep redaction from corrupting the facts a diagnosis rests on:
- A version looks like an IPv4 address (cuDNN `9.3.0.75`, cuRAND `10.3.6.82`), so a dotted quad is redacted only where
  it is clearly an address: a private or link-local range (192.168/16, 172.16/12, 169.254/16, 100.64/10), a port or
  prefix length after it (`:8470`, `/24`), a URL or `@` before it, a network word before it (`inet`, `from`, `via`,
  `nameserver`, ...), or alone at the start of a line (an access log). IPv6 addresses are validated before they are
  redacted (C++'s `std::` and clock times are not addresses).
- Host and user names are matched on word boundaries (a letter or digit next to them means another word), case
  insensitively, never inside another word. A name that is also a distribution id, a kernel module, a package or a
  common word (a host called `ubuntu`, `debian` or `nvidia`; the `ubuntu` user of a cloud image) is never replaced as
  a bare word, which would rewrite os-release, lspci and package facts: it is replaced only where it stands in a host
  or user position (a journal line's host field, `running on this host (NAME)`, a prompt, `user@host`, a home path).

Every pattern here runs through tfdoctor.textmatch (RE2, linear time); boundaries are checked in Python because RE2
has no lookaround.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tfdoctor import textmatch

HOSTNAME = "<hostname>"
USER = "<user>"
MEMO_MAX_LEN = 4096  # strings up to this long are remembered: a flooded log repeats the same line thousands of times
MEMO_ENTRIES = 50_000

_GPU_UUID = textmatch.compile(r"\b(GPU|MIG)-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")  # whatever follows it
_MIG_LEGACY = textmatch.compile(r"\bMIG-GPU-[0-9a-fA-F-]{36}/\d+/\d+\b")
_UUID = textmatch.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# `Serial Number : 1323520012345`, `serial=PH12`, `Serial Number 1323520012345`; the value holds a digit (checked in
# Python), so that `serial console` stays as it is; `serial8250:` (a kernel driver) has no separator and stays too.
_SERIAL = textmatch.compile(r"(?i)(\bserial(?:[ _]?(?:number|no\.?|short))?[\"']?(?:\s*[:=]\s*|\s+)[\"']?)"
                            r"([0-9A-Za-z][0-9A-Za-z-]{3,})")
_MAC = textmatch.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5,19}|[0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5}")
_IPV4 = textmatch.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_NET_WORD = textmatch.compile(
    r"(?i)\b(?:inet|addr|address(?:es)?|ip|ipv4|src|dst|from|to|via|server|host|peer|gateway|nameserver|dns|client|"
    r"remote|proxy|endpoint|target|master|worker|node|ssh|ping|listen(?:ing)?(?: on)?|connect(?:ed|ing|ion)?(?: to)?)"
    r"[=: ]+[\"'(\[]?$")
_IPV6_CANDIDATE = textmatch.compile(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}")
_TF_HOST = textmatch.compile(r"(running on this host \()([^)]*)(\))")
_PROMPT = textmatch.compile(r"(?m)^([\w.-]+)@([\w.-]+):")
# journalctl / syslog: `Jan 01 12:00:00 HOST kernel:` or `2024-01-01T12:00:00+0000 HOST kernel:`
_JOURNAL_HOST = textmatch.compile(r"(?m)^(\s*(?:[A-Z][a-z]{2}\s+\d{1,2} [\d:]{8}(?:\.\d+)?|\d{4}-\d\d-\d\dT[\d:.,]+"
                                  r"(?:[+-]\d\d:?\d\d|Z)?) )([A-Za-z0-9][A-Za-z0-9._-]*)( \S+?(?:\[\d+\])?:)")
# journalctl -o short-monotonic: `[  123.456789] HOST kernel:` (only with `kernel:` after it: a dmesg line's device
# name, `[ 1.2] nvidia 0000:01:00.0: ...`, is no host)
_MONOTONIC_HOST = textmatch.compile(r"(?m)^(\s*\[\s*\d+\.\d+\] )([A-Za-z0-9][A-Za-z0-9._-]*)( kernel:)")
_HOSTNAME_FIELD = textmatch.compile(r"(?i)(\b(?:static hostname|hostname|nodename|node name)\s*[=:]\s*[\"']?)"
                                    r"([A-Za-z0-9][A-Za-z0-9.-]*)")
# `user@host` (an e-mail address, `built by alice@box`, URL credentials); not a systemd unit (`getty@tty1.service`)
_USER_AT_HOST = textmatch.compile(r"([A-Za-z][A-Za-z0-9._+-]*)@([A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*)")
_UNIT_SUFFIXES = (".service", ".socket", ".target", ".mount", ".timer", ".slice", ".scope", ".device", ".path")
# ... nor a pinned revision: `name@version` (Spack's and Homebrew's `cuda@11.8`, `python@3.11`) or `repo@commit`
# (a git object id, as a citation `tensorflow/docs@7c3650212740204359d4ceae481abc79345541be` or pip's
# `git+https://...@<sha>` gives it): the part after `@` is all digits and dots, or 40 (SHA-1) or 64 (SHA-256) hex digits
_NOT_A_HOST = textmatch.compile(r"^(?:\d+(?:\.\d+)*|[0-9a-f]{40}|[0-9a-f]{64})$")
_USER_FIELD = textmatch.compile(r"(?i)(\b(?:user|username|login|logname|acct|owner)=[\"']?)([A-Za-z_][A-Za-z0-9._-]*)")
_UID_NAME = textmatch.compile(r"(\b[ug]id=\d+\()([^)\s]+)(\))")
# home and scratch directories: /home/X and /Users/X (-> ~), and /gpfs/home/X, /scratch/X, /mnt/c/Users/X, C:\Users\X
_HOME = textmatch.compile(r"(^|[^\w.~/-])/(?:home|Users)/([^/\s:'\"<>]+)")
_USER_DIR = textmatch.compile(r"(/(?:[\w.-]+/)*(?:home|homes|Users|users|scratch)/)([^/\s:'\"<>]+)")
# Windows forbids <>:"/\|?* in a user folder's name: the `>` of a `PS C:\Users\alice>` prompt is not part of it
_WIN_USER = textmatch.compile(r"(?i)([A-Z]:\\+Users\\+)([^\\/\s:'\"<>|?*]+)")
_CONDA_ENV = textmatch.compile(r"(/envs/)([^/\s:'\"<]+)")

# Never replaced as a bare word (see the module docstring): distribution ids, kernel modules and drivers, packages and
# tools, generic machine and account names, and tfdoctor's own placeholders.
RESERVED = frozenset("""
ubuntu debian fedora centos rhel redhat rocky almalinux alma arch archlinux manjaro opensuse suse sles tumbleweed leap
pop popos linuxmint mint elementary zorin nixos gentoo void alpine kali raspbian endeavouros amazon amzn ol oracle
clear clearlinux talos wsl microsoft
nvidia nouveau nova nova_core nova_drm i915 amdgpu radeon vfio nvidia_drm nvidia_uvm nvidia_modeset drm
cuda cudnn cublas nccl tensorrt tensorflow tf keras jax torch pytorch python python3 pip conda anaconda miniconda
docker podman containerd kubernetes k8s slurm linux kernel gnu gpu cpu dkms nvml smi
localhost localdomain local server host hostname node master worker admin administrator user users root test dev
desktop laptop workstation computer machine pc vm box default guest home ip mac uuid env redacted none unknown
""".split())  # noqa: SIM905 - a word list reads better as words


def _word_char(c: str) -> bool:
    return c.isalnum()


def _bounded(text: str, start: int, end: int) -> bool:
    """No letter or digit directly before `start` or after `end`: the match is a word of its own."""
    return (start == 0 or not _word_char(text[start - 1])) and (end >= len(text) or not _word_char(text[end]))


def _replace_spans(text: str, spans: list[tuple[int, int, str]]) -> str:
    if not spans:
        return text
    out, last = [], 0
    for start, end, new in sorted(spans):
        if start < last:
            continue
        out += [text[last:start], new]
        last = end
    out.append(text[last:])
    return "".join(out)


def _usable(name: str) -> bool:
    return bool(name) and len(name) >= 3 and name.lower() not in RESERVED and name not in (HOSTNAME, USER)


@dataclass
class Redactor:
    """Replaces secrets in text. `hostnames`, `homes` and `users` are the live machine's, when known."""

    hostnames: tuple[str, ...] = ()
    homes: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
    users: tuple[str, ...] = ()
    _compiled: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __call__(self, text: str) -> str:
        if not text or not isinstance(text, str):
            return text
        if len(text) <= MEMO_MAX_LEN:
            done = self._memo.get(text)
            if done is None:
                done = self._redact(text)
                if len(self._memo) < MEMO_ENTRIES:
                    self._memo[text] = done
            return done
        return self._redact(text)

    def _redact(self, text: str) -> str:
        # Each pass runs only when the text holds what its pattern needs: most strings (versions, file names,
        # TensorFlow log lines) hold none of it, and a report redacts thousands of them.
        for home in sorted(self.homes, key=len, reverse=True):
            if home and home not in ("/", "/root") and home in text:
                text = text.replace(home, "~")
        if "/" in text:
            text = _HOME.sub(r"\1~", text) if ("/home/" in text or "/Users/" in text) else text
            text = text.replace("/root/", "~/") if "/root/" in text else text
            if "ome" in text or "sers/" in text or "/scratch/" in text:
                text = _USER_DIR.sub(rf"\1{USER}", text)
            text = _CONDA_ENV.sub(r"\1<env>", text) if "/envs/" in text else text
        if "\\" in text:
            text = _WIN_USER.sub(rf"\1{USER}", text)
        if "running on this host" in text:
            text = _TF_HOST.sub(rf"\g<1>{HOSTNAME}\g<3>", text)
        if "@" in text:
            text = _PROMPT.sub(rf"{USER}@{HOSTNAME}:", text)
            text = self._user_at_host(text)
        if ":" in text:
            text = _JOURNAL_HOST.sub(rf"\1{HOSTNAME}\3", text)
            if " kernel:" in text:
                text = _MONOTONIC_HOST.sub(rf"\1{HOSTNAME}\3", text)
        if "=" in text or ":" in text:
            low = text.lower()
            if "name" in low:
                text = _HOSTNAME_FIELD.sub(rf"\1{HOSTNAME}", text)
            if "id=" in low:
                text = _UID_NAME.sub(rf"\1{USER}\3", text)
            if "=" in text:
                text = _USER_FIELD.sub(rf"\1{USER}", text)
        if self.hostnames or self.users:
            low = text.lower()
            text = self._names(text, [n for n in self.hostnames if n.lower() in low], HOSTNAME, with_domain=True)
            text = self._names(text, [n for n in self.users if n.lower() in low], USER, with_domain=False)
        if "-" in text:
            if "MIG-" in text or "GPU-" in text:
                text = _MIG_LEGACY.sub("MIG-<redacted>", text)
                text = _GPU_UUID.sub(r"\1-<redacted>", text)
            text = self._bounded_sub(text, _UUID, lambda m: "<uuid>")
        if "erial" in text or "ERIAL" in text:
            text = self._serials(text)
        if ":" in text or "-" in text:
            text = self._bounded_sub(text, _MAC, lambda m: "<mac>")
        text = _ipv6(text)
        text = _ipv4(text)
        for old, new in self.extra.items():
            text = text.replace(old, new)
        return text

    # -- pieces ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _bounded_sub(text: str, rx, repl) -> str:
        spans = [(m.start(), m.end(), repl(m)) for m in rx.finditer(text) if _bounded(text, m.start(), m.end())]
        return _replace_spans(text, spans)

    @staticmethod
    def _serials(text: str) -> str:
        spans = []
        for m in _SERIAL.finditer(text):
            value = m.group(2)
            if any(c.isdigit() for c in value) and value != "<redacted>":
                spans.append((m.start(2), m.end(2), "<redacted>"))
        return _replace_spans(text, spans)

    @staticmethod
    def _user_at_host(text: str) -> str:
        if "@" not in text:
            return text
        spans = []
        for m in _USER_AT_HOST.finditer(text):
            host = m.group(2)
            if host.lower().endswith(_UNIT_SUFFIXES) or _NOT_A_HOST.search(host) or \
                    not _bounded(text, m.start(), m.end()):
                continue
            if m.start() > 0 and text[m.start() - 1] in "<":
                continue
            spans.append((m.start(), m.end(), f"{USER}@{HOSTNAME}"))
        return _replace_spans(text, spans)

    def _names(self, text: str, names, placeholder: str, with_domain: bool) -> str:
        for name in sorted({n for n in names if _usable(n)}, key=len, reverse=True):
            rx = self._compiled.get((name, with_domain))
            if rx is None:
                domain = r"(?:\.[A-Za-z][A-Za-z0-9-]*)*" if with_domain else ""
                rx = self._compiled[(name, with_domain)] = textmatch.compile(
                    textmatch.escape(name) + domain, textmatch.IGNORECASE)
            text = self._bounded_sub(text, rx, lambda m: placeholder)
        return text

    # -- learning from text ---------------------------------------------------------------------------------------
    def learn(self, text: str) -> Redactor:
        """A redactor that also knows the host and user names that text reveals (TensorFlow's "running on this host
        (NAME)", a prompt's user@NAME, a journal line's host field, `hostname=`, home directories, `user=`), so that
        the bare name is redacted wherever else it appears (unless it is a reserved word)."""
        text = text or ""
        prompts = [(m.group(1), m.group(2)) for m in _PROMPT.finditer(text)]
        hosts = {m.group(2) for m in _TF_HOST.finditer(text)} | {host for _, host in prompts}
        hosts |= {m.group(2) for m in _JOURNAL_HOST.finditer(text)} | {m.group(2) for m in _MONOTONIC_HOST.finditer(text)}
        hosts |= {m.group(2) for m in _HOSTNAME_FIELD.finditer(text)}
        users = {user for user, _ in prompts}
        users |= {m.group(2) for m in _HOME.finditer(text)}
        users |= {m.group(2) for m in _USER_DIR.finditer(text)}
        users |= {m.group(2) for m in _WIN_USER.finditer(text)}
        users |= {m.group(2) for m in _USER_FIELD.finditer(text)}
        users |= {m.group(2) for m in _UID_NAME.finditer(text)}
        hosts = {h.split(".")[0] for h in hosts} | hosts
        hosts = {h for h in hosts if _usable(h)} - set(self.hostnames)
        users = {u for u in users if _usable(u)} - set(self.users)
        if not hosts and not users:
            return self
        return Redactor(tuple(sorted(set(self.hostnames) | hosts)), self.homes, dict(self.extra),
                        tuple(sorted(set(self.users) | users)))

    def obj(self, value):
        """Redact every string inside a JSON-like value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.obj(v) for k, v in value.items() if k not in ("uuid", "serial", "hostname")}
        if isinstance(value, (list, tuple)):
            return [self.obj(v) for v in value]
        return value


# -- addresses -------------------------------------------------------------------------------------------------------

def _private(octets: list[int]) -> bool:
    a, b = octets[0], octets[1]
    # 10/8 is private too, but `10.3.6.82` is also cuRAND's version: a 10.x quad needs a context like any other
    return (a == 192 and b == 168) or (a == 172 and 16 <= b <= 31) or (a == 169 and b == 254) or \
        (a == 100 and 64 <= b <= 127)


def _clearly_an_address(text: str, start: int, end: int, octets: list[int]) -> bool:
    if _private(octets):
        return True
    after = text[end:end + 4]
    if len(after) >= 2 and after[0] == ":" and after[1].isdigit():
        return True  # a port
    if len(after) >= 2 and after[0] == "/" and after[1].isdigit():
        tail = after[1:].split("/")[0]
        digits = tail[:2] if tail[:2].isdigit() else tail[:1]
        rest = text[end + 1 + len(digits):end + 2 + len(digits)]
        if int(digits) <= 32 and not (rest.isdigit() or rest == "."):
            return True  # a prefix length
    before = text[max(0, start - 40):start]
    if before.endswith(("//", "@", "[")):
        return True
    if before.endswith("(") and text[end:end + 1] == ")":
        return True  # `gpu01 (10.10.1.7)`, `PING host (203.0.113.9)`
    if _NET_WORD.search(before):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    return not text[line_start:start].strip()  # alone at the start of a line


def _ipv4(text: str) -> str:
    if "." not in text:
        return text
    spans = []
    for m in _IPV4.finditer(text):
        start, end = m.span()
        prev = text[start - 1] if start else ""
        nxt = text[end] if end < len(text) else ""
        nxt2 = text[end + 1] if end + 1 < len(text) else ""
        if (prev and (prev.isalnum() or prev in "._-")) or (nxt and (nxt.isalnum() or nxt in "_-")) or (
                nxt == "." and nxt2.isalnum()):
            continue  # part of a longer version, a file name or a word
        octets = [int(x) for x in m.group(0).split(".")]
        if max(octets) > 255:
            continue
        if _clearly_an_address(text, start, end, octets):
            spans.append((start, end, "<ip>"))
    return _replace_spans(text, spans)


def _ipv6(text: str) -> str:
    if text.count(":") < 2:
        return text
    spans = []
    for m in _IPV6_CANDIDATE.finditer(text):
        start, end = m.span()
        token = m.group(0)
        if not ("::" in token or token.count(":") == 7):
            continue
        prev = text[start - 1] if start else ""
        nxt = text[end] if end < len(text) else ""
        if (prev and (prev.isalnum() or prev in ":._")) or (nxt and (nxt.isalnum() or nxt == "_")):
            continue
        if nxt == "." and text[end + 1:end + 2].isdigit():
            # `::ffff:10.0.0.1`: the candidate stopped at the first dot; the last group starts the IPv4 tail
            tail = _IPV4.match(text[start + token.rfind(":") + 1:])
            if tail is None:
                continue
            end = start + token.rfind(":") + 1 + tail.end()
            token = text[start:end]
        if token.count(":") < 2 or token.strip(":") == "":
            continue  # `::` alone is not an address worth hiding (and is C++'s scope operator)
        import ipaddress

        try:
            ipaddress.IPv6Address(token)
        except ValueError:
            continue
        spans.append((start, end, "<ip>"))
    return _replace_spans(text, spans)


def gpu_ids(text: str) -> str:
    """GPU and MIG UUIDs in one piece of text replaced (a device a message names, before it is shortened for a
    summary: a cut UUID no longer matches the report's own redaction)."""
    if "MIG-" in text or "GPU-" in text:
        text = _MIG_LEGACY.sub("MIG-<redacted>", text)
        text = _GPU_UUID.sub(r"\1-<redacted>", text)
    return text


def live_redactor() -> Redactor:
    """The redactor for this machine: its host name (and FQDN's first label), the current user and home directory."""
    import contextlib
    import getpass
    import os
    import socket

    names = {socket.gethostname()}
    names |= {n.split(".")[0] for n in names}
    # a host name given as an FQDN: its domain is the site's, and leaves the machine no more than the name does
    names |= {n.split(".", 1)[1] for n in names if n.count(".") >= 2}
    homes = {os.path.expanduser("~")}
    users = set()
    with contextlib.suppress(Exception):  # no user name known (a container with an unknown uid): nothing to add
        users.add(getpass.getuser())
    users |= {os.path.basename(h.rstrip("/")) for h in homes if h.startswith(("/home/", "/Users/"))}
    return Redactor(hostnames=tuple(sorted(n for n in names if n)), homes=tuple(homes),
                    users=tuple(sorted(u for u in users if u)))
