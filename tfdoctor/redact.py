"""Redaction: what must never leave the machine, in snapshots and in every report format.

GPU UUIDs and serial numbers, MAC addresses, IP addresses in network contexts, the host name and home directories
(user names) are replaced with placeholders. Version strings such as `9.3.0.75` look like IPv4 addresses, so an
address is only redacted where it is clearly one: a private/link-local range, or after a network keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_GPU_UUID = re.compile(r"\b(GPU|MIG)-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b")
_MIG_LEGACY = re.compile(r"\bMIG-GPU-[0-9a-fA-F-]{36}/\d+/\d+\b")
_SERIAL = re.compile(r"(?i)(\bserial(?:\s*number)?\b[\"']?\s*[:=]\s*[\"']?)([0-9A-Za-z-]{4,})")
_MAC = re.compile(r"\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\b")
_PRIVATE_IPV4 = re.compile(
    r"(?<![\w.])(?:192\.168|172\.(?:1[6-9]|2\d|3[01])|169\.254)\.\d{1,3}\.\d{1,3}(?![\w.])"
)
_CONTEXT_IPV4 = re.compile(
    r"(?i)(\b(?:inet|addr|address|ip|src|dst|from|to|via|server|host|peer|gateway)[=: ]+)"
    r"(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])"
)
_IPV6 = re.compile(r"(?i)(\binet6\s+)([0-9a-f:]+:[0-9a-f:]+)")
_TF_HOST = re.compile(r"(running on this host \()([^)]*)(\))")
_HOME = re.compile(r"(?<![\w.])/(?:home|Users)/[^/\s:'\"]+")
_PROMPT = re.compile(r"(?m)^([\w.-]+)@([\w.-]+):")

HOSTNAME = "<hostname>"


@dataclass
class Redactor:
    """Replaces secrets in text. `hostnames` and `homes` are the live machine's, when known."""

    hostnames: tuple[str, ...] = ()
    homes: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for home in sorted(self.homes, key=len, reverse=True):
            if home and home not in ("/", "/root"):
                text = text.replace(home, "~")
        text = _HOME.sub("~", text)
        text = text.replace("/root/", "~/") if "/root/" in text else text
        for name in self.hostnames:
            if name and len(name) >= 2 and name not in ("localhost",):
                text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", HOSTNAME, text)
        text = _TF_HOST.sub(rf"\g<1>{HOSTNAME}\g<3>", text)
        text = _PROMPT.sub(rf"<user>@{HOSTNAME}:", text)
        text = _MIG_LEGACY.sub("MIG-<redacted>", text)
        text = _GPU_UUID.sub(lambda m: f"{m.group(1)}-<redacted>", text)
        text = _SERIAL.sub(r"\g<1><redacted>", text)
        text = _MAC.sub("<mac>", text)
        text = _IPV6.sub(r"\g<1><ip>", text)
        text = _CONTEXT_IPV4.sub(r"\g<1><ip>", text)
        text = _PRIVATE_IPV4.sub("<ip>", text)
        for old, new in self.extra.items():
            text = text.replace(old, new)
        return text

    def learn(self, text: str) -> Redactor:
        """A redactor that also knows the host names that pasted text reveals (TensorFlow's "running on this host
        (NAME)", a shell prompt's user@NAME), so that the bare name is redacted wherever else it appears."""
        found = {m.group(2) for m in _TF_HOST.finditer(text or "")}
        found |= {m.group(2) for m in _PROMPT.finditer(text or "")}
        found = {f for f in found if f and f != HOSTNAME and len(f) >= 2}
        if not found:
            return self
        return Redactor(tuple(sorted(set(self.hostnames) | found)), self.homes, dict(self.extra))

    def obj(self, value):
        """Redact every string inside a JSON-like value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.obj(v) for k, v in value.items() if k not in ("uuid", "serial", "hostname")}
        if isinstance(value, (list, tuple)):
            return [self.obj(v) for v in value]
        return value


def live_redactor() -> Redactor:
    """The redactor for this machine: its host name(s) and the current user's home directory."""
    import os
    import socket

    names = {socket.gethostname()}
    names |= {n.split(".")[0] for n in names}
    homes = {os.path.expanduser("~")}
    return Redactor(hostnames=tuple(sorted(n for n in names if n)), homes=tuple(homes))
