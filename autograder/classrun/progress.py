"""Progress of a class being graded: a redrawn bar on a terminal, plain lines otherwise."""
import shutil
import sys
import time


class Progress:
    def __init__(self, total: int, stream=None, width: int = 28):
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self.started = time.monotonic()
        self._last = ""

    def note(self, text: str) -> None:
        """A line that is not about one submission (start-up, collection)."""
        if self.tty:
            self._clear()
        print(text, file=self.stream, flush=True)
        if self.tty and self.done:
            self._draw()

    def update(self, student: str, status: str, seconds=None) -> None:
        """One submission finished with ``status`` (the text shown for it)."""
        self.done += 1
        self.failed += status.startswith("failed")
        if self.tty:
            self._last = f"{student}: {status}"
            if status.startswith("failed"):  # stays on screen above the bar
                self._clear()
                print(self._last, file=self.stream, flush=True)
            self._draw()
        else:
            took = f" ({seconds:.1f} s)" if seconds is not None else ""
            print(f"[{self.done}/{self.total}] {student}: {status}{took}", file=self.stream, flush=True)

    def finish(self) -> None:
        if self.tty:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        elapsed = time.monotonic() - self.started
        filled = int(self.width * self.done / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        eta = ""
        if 0 < self.done < self.total:
            eta = f" eta {elapsed / self.done * (self.total - self.done):.0f}s"
        failed = f" {self.failed} failed" if self.failed else ""
        line = f"[{bar}] {self.done}/{self.total}{failed} {elapsed:.0f}s{eta}  {self._last}"
        columns = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + line[:max(columns - 1, 20)] + "\x1b[K")
        self.stream.flush()

    def _clear(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()
