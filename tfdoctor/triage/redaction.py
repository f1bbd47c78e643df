"""Redaction of a paste, as for snapshots (tfdoctor/redact.py), plus what a paste reveals about its machine.

A paste names its machine and user in places a live run never sees: shell prompts of every form (`user@host:~$`,
`(venv) user@host:~$`, `[user@host dir]$`, zsh's right prompt `user@host`), the host field of journal lines,
TensorFlow's `running on this host (NAME)`, Windows profile paths. Those names are learned from the paste, then
redacted wherever they appear. Names that identify nobody (root, ubuntu, localhost, a distribution's default host
name, and every word the snapshot redactor never replaces: tfdoctor.redact.RESERVED) are left alone: redacting
"ubuntu" would turn `ID=ubuntu` into nonsense, and "worker" would corrupt `/job:worker/replica:0`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfdoctor import textmatch
from tfdoctor.redact import RESERVED, Redactor

# Names that identify nobody, beyond the words the snapshot redactor never replaces (tfdoctor.redact.RESERVED):
# cloud and appliance default accounts and hosts, placeholders people type instead of their own name
NEVER_LEARNED = RESERVED | frozenset((
    "localhost.localdomain", "ubuntu-server", "pop-os", "cachyos", "deepin", "garuda", "truenas", "raspberrypi", "pi",
    "ec2-user", "azureuser", "cloud-user", "opc", "sagemaker-user", "jovyan", "vagrant", "colab", "kaggle", "git",
    "system", "example", "myhost", "hostname", "user-name", "username", "your-username", "<user>", "<hostname>",
))

_PROMPT_NAMES = textmatch.compile(
    r"(?:^|[ \t(\[`])(?P<user>[A-Za-z_][\w.-]{0,31})@(?P<host>[A-Za-z0-9][\w-]{0,62})(?:[:$#%]|[ \t]+~|[ \t]*$)",
    textmatch.MULTILINE)
_JOURNAL_HOST = textmatch.compile(
    r"^[ \t>]*(?:(?:[A-Za-z]{3}[ \t]+\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT[\d:.,]+(?:[+-]\d\d:?\d\d|Z)?) "
    r"(?P<host>[A-Za-z0-9][\w.-]{0,62}) [\w.@/-]+(?:\[\d+\])?: |"
    r"\[[ \t]*\d+\.\d+\] (?P<mhost>[A-Za-z0-9][\w.-]{0,62}) kernel: )", textmatch.MULTILINE)  # short-monotonic
_TF_HOST = textmatch.compile(r"running on this host \((?P<host>[^)\n]{1,253})\)")
_WINDOWS_USER = textmatch.compile(r"[A-Za-z]:\\+Users\\+(?P<user>[^\\/\s\"':*?<>|]{1,64})")
_HOME_USER = textmatch.compile(r"/(?:home|Users)/(?P<user>[^/\s:'\"]{1,64})")
CONTAINER_ID = textmatch.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class Learned:
    """What the paste says about its machine's identity."""

    hosts: tuple[str, ...]
    users: tuple[str, ...]
    container_hosts: tuple[str, ...]  # host names that are Docker container ids (12 hex digits)


def learn(text: str) -> Learned:
    """The host and user names the paste reveals (before any redaction)."""
    hosts: dict[str, None] = {}
    users: dict[str, None] = {}
    for m in _PROMPT_NAMES.finditer(text):
        users.setdefault(m.group("user"))
        hosts.setdefault(m.group("host"))
    for m in _JOURNAL_HOST.finditer(text):
        hosts.setdefault(m.group("host") or m.group("mhost"))
    for m in _TF_HOST.finditer(text):
        hosts.setdefault(m.group("host").strip())
    for rx in (_WINDOWS_USER, _HOME_USER):
        for m in rx.finditer(text):
            users.setdefault(m.group("user"))
    containers = tuple(h for h in hosts if CONTAINER_ID.match(h) is not None)

    def keep(name: str) -> bool:
        return len(name) >= 2 and name.lower() not in NEVER_LEARNED and not name.isdigit()

    return Learned(tuple(h for h in hosts if keep(h)), tuple(u for u in users if keep(u) and u not in hosts),
                   containers)


class PasteRedactor:
    """Redacts a paste: the snapshot rules (GPU UUIDs and serials, MAC and private IP addresses, home directories,
    `user@host:` prompts, TensorFlow's host name) and the names learned from the paste itself."""

    def __init__(self, learned: Learned) -> None:
        self.base = Redactor(hostnames=learned.hosts)
        self.users = learned.users
        self._user_rx = (textmatch.compile(r"(?P<pre>^|[^\w-])(?:" + "|".join(textmatch.escape(u) for u in self.users)
                                           + r")(?P<post>[^\w-]|$)", textmatch.MULTILINE)
                         if self.users else None)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        # the snapshot rules over the whole text (linear-time patterns: a megabyte costs some 50 ms)
        text = self.base(text)
        if self._user_rx is not None:
            # twice: adjacent names share the character between them
            for _ in range(2):
                text = self._user_rx.sub(lambda m: f"{m.group('pre')}<user>{m.group('post')}", text)
        return text
