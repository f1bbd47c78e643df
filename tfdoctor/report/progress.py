"""Live progress on a terminal while the check runs, like `flutter doctor`: a line per area as it completes, and a
spinner that names the slow step ("importing TensorFlow with ~/.venv/bin/python ... 2.1 s").

Only the CLI uses it, and only when the report goes to a terminal (`wanted`): piped output, --json, --quiet and the
other machine formats get nothing extra. The display is transient: when the check ends it is erased and the report
printed in its place, so an area's preview (the evidence of a later probe may still change it) never stays on the
screen. rich is imported when a display starts, never at start-up.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from tfdoctor import progress as events
from tfdoctor.model import Status


def wanted(stream=None) -> bool:
    """Is there a person at a terminal to show progress to? (a tty, and not TERM=dumb)"""
    stream = stream or sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return bool(tty) and os.environ.get("TERM", "") != "dumb"


_ACTIVE: list = []  # the display on screen, for restore_terminal


def restore_terminal() -> None:
    """Before the process ends without cleanup (the watchdog's os._exit): end the live region, show the cursor."""
    for display in list(_ACTIVE):
        try:
            display.console.show_cursor(True)
            display.console.file.write("\n")
            display.console.file.flush()
        except (OSError, ValueError):
            pass


class _Now:
    """The spinner line, drawn from the display's state each time rich refreshes (so its seconds keep moving)."""

    def __init__(self, display: LiveProgress):
        self.display = display

    def __rich_console__(self, console, options):
        yield from self.display.render_lines()


class LiveProgress:
    """A progress display; call it with each event of tfdoctor/progress.py. Use as a context manager around the
    check: entering starts the live region on `console`, leaving erases it."""

    def __init__(self, console=None, title: str = "Checking this machine"):
        from rich.console import Console

        self.console = console or Console(highlight=False)
        self.title = title
        self.utf8 = (getattr(self.console, "encoding", "") or "").lower().replace("-", "") in ("utf8", "utf_8")
        self._lock = threading.Lock()
        self._areas: list[tuple[str, Status]] = []
        self._running: dict[str, list] = {}  # probe -> [title, step text, since]
        self._live = None

    # -- the live region -------------------------------------------------------------------------------------
    def __enter__(self) -> LiveProgress:
        from rich.live import Live

        self._live = Live(_Now(self), console=self.console, transient=True, refresh_per_second=8,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start()
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, event) -> None:
        with self._lock:
            if isinstance(event, events.ProbeStarted):
                self._running[event.probe] = [event.title, "", time.monotonic()]
            elif isinstance(event, events.ProbeStep):
                entry = self._running.setdefault(event.probe, [event.title, "", time.monotonic()])
                entry[1], entry[2] = event.text, time.monotonic()
            elif isinstance(event, events.ProbeDone):
                self._running.pop(event.probe, None)
            elif isinstance(event, events.AreaDone):
                # as the report marks an area: skips count only when nothing else was found (they are listed apart)
                shown = [f.status for f in event.findings if f.status != Status.SKIP] or \
                    [f.status for f in event.findings]
                worst = max(shown, key=lambda s: s.rank, default=Status.OK)
                self._areas.append((event.title, worst))
        if self._live is not None:
            self._live.refresh()

    # -- what is drawn -------------------------------------------------------------------------------------------
    def render_lines(self):
        from rich.text import Text

        from tfdoctor.report.console import ASCII_MARKS, MARKS
        from tfdoctor.report.sanitize import clean

        with self._lock:
            areas = list(self._areas)
            running = [(t, s, since) for t, s, since in self._running.values()]
        out = [Text(f"{self.title}{'…' if self.utf8 else '...'}", style="bold")]
        for title, status in areas:
            sym, colour = MARKS[status]
            line = Text("[")
            line.append(sym if self.utf8 else ASCII_MARKS[status], style=colour)
            line.append(f"] {title}")
            out.append(line)
        if running:
            # The probe that has run longest is the slow step worth naming (the TensorFlow child, nearly always).
            title, step, since = min(running, key=lambda r: r[2] if r[1] else r[2] + 1e9)
            frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏" if self.utf8 else "-\\|/"
            now = time.monotonic()
            frame = frames[int(now * 8) % len(frames)]
            text = Text(f"{frame} ", style="cyan")
            # the step names an interpreter path from the machine: no escape sequence reaches the terminal
            text.append(f"{clean(step or title, newlines=False)} {'…' if self.utf8 else '...'} {now - since:.1f} s")
            out.append(text)
        yield from out


def run_with_progress(func, console=None, title: str = "Checking this machine"):
    """Call `func(progress)` with a live display as its progress callback, then erase the display."""
    with LiveProgress(console, title) as display:
        return func(display)
