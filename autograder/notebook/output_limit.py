"""A cap on the output a notebook keeps, applied while the kernel produces it.

nbgrader's ``LimitOutput`` counts lines only, after execution: one ``print('x' * 10**8)`` is one
line, and an endless ``print`` loop piles up messages in the grader's memory until the cell
times out. :class:`CapOutput` (mixed into the Execute preprocessor, see
:mod:`autograder.notebook.kernel`) counts characters as the messages arrive: a cell keeps at most
``max_cell_chars``, the notebook at most ``max_notebook_chars``; the first output over the cap is
cut (a stream keeps its head), later ones are dropped, and the cell gets one error output
``OutputLimitExceeded`` naming the limit (so a test cell that floods its output scores 0).

Counted against the same cap: stream, display_data, execute_result and error outputs; comm
messages (``comm_open``/``comm_msg``: widget state, which nbclient keeps in the notebook's
metadata; a malformed one, which would make nbclient raise, is dropped); and every rewrite of an existing display (``update_display_data``, or a display with a
``display_id`` already shown), charged once per output it rewrites.
"""
import json

from nbformat.v4 import new_output
from traitlets import Integer
from traitlets.config import Configurable

from .limits import GradingLimits

ENAME = "OutputLimitExceeded"
OUTPUTS = ("stream", "display_data", "execute_result", "error")
COMMS = ("comm_open", "comm_msg")


def output_size(content: dict) -> int:
    """Characters an output message's content would add to the notebook."""
    if "text" in content:  # stream
        return len(content["text"])
    size = 0
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    size += len(content.get("evalue", "") or "")
    size += sum(len(line) for line in content.get("traceback", []) or [])
    return size


def comm_size(msg: dict) -> int:
    """Characters (and buffer bytes) a comm message carries."""
    data = json.dumps(msg["content"].get("data"), default=str)
    return len(data) + sum(len(buffer) for buffer in msg.get("buffers") or [])


class CapOutput(Configurable):
    """Mixin for an nbclient-based Execute preprocessor: cap the output kept per cell and
    per notebook, in characters."""

    # Set from c.GradingLimits.kernel_*_output_chars (autograder.notebook.limits), not configured here.
    max_cell_chars = Integer(GradingLimits.default("kernel_cell_output_chars"),
                             help="Characters of output one cell may keep; the rest is dropped.")
    max_notebook_chars = Integer(GradingLimits.default("kernel_notebook_output_chars"),
                                 help="Characters of output the whole notebook may keep.")

    def preprocess(self, nb, resources=None, km=None):
        self._notebook_used = 0
        self._cell_used = {}
        self._capped = set()
        return super().preprocess(nb, resources, km)

    def _room(self, cell_index: int) -> int:
        return min(self.max_cell_chars - self._cell_used.get(cell_index, 0),
                   self.max_notebook_chars - self._notebook_used)

    def _take(self, cell_index: int, size: int) -> None:
        self._cell_used[cell_index] = self._cell_used.get(cell_index, 0) + size
        self._notebook_used += size

    def _mark(self, outs, cell_index: int) -> None:
        """The cell's one OutputLimitExceeded error, naming the cap it hit."""
        if cell_index in self._capped:
            return
        self._capped.add(cell_index)
        whole = (self.max_notebook_chars - self._notebook_used
                 < self.max_cell_chars - self._cell_used.get(cell_index, 0))
        limit = ("%d characters for the whole notebook" % self.max_notebook_chars if whole
                 else "%d characters per cell" % self.max_cell_chars)
        message = ("This cell produced more output than the grader keeps (output limit: %s); "
                   "the rest of its output was dropped." % limit)
        outs.append(new_output("error", ename=ENAME, evalue=message,
                               traceback=["%s: %s" % (ENAME, message)]))
        self.log.warning("cell %d output capped: %s", cell_index, message)

    def process_message(self, msg, cell, cell_index):
        kind, content = msg["msg_type"], msg["content"]
        transient = content.get("transient")
        display_id = transient.get("display_id") if isinstance(transient, dict) else None
        size = 0
        if kind in COMMS:
            size = comm_size(msg)
        elif display_id and kind in ("display_data", "execute_result", "update_display_data"):
            shown = sum(len(indices) for indices in self._display_id_map.get(display_id, {}).values())
            size = output_size(content) * shown  # each output it rewrites
        if size:
            if size > self._room(cell_index):
                self._mark(cell.outputs, cell_index)
                return None
            self._take(cell_index, size)
        if kind not in COMMS:
            return super().process_message(msg, cell, cell_index)
        try:
            return super().process_message(msg, cell, cell_index)
        except Exception as exc:  # noqa: BLE001 - a malformed comm (e.g. a widget without its
            # model fields) makes nbclient raise, which would abort the whole notebook
            self.log.warning("cell %d: dropped a malformed %s message (%s: %s)", cell_index, kind,
                             type(exc).__name__, str(exc)[:200])
            return None

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] not in OUTPUTS:
            return super().output(outs, msg, display_id, cell_index)
        room = self._room(cell_index)
        size = output_size(msg["content"])
        if size <= room:
            self._take(cell_index, size)
            return super().output(outs, msg, display_id, cell_index)
        out = None
        if msg["msg_type"] == "stream" and room > 0:  # keep the head of the text
            msg = dict(msg, content=dict(msg["content"], text=msg["content"]["text"][:room]))
            out = super().output(outs, msg, display_id, cell_index)
            self._take(cell_index, room)
        self._mark(outs, cell_index)
        return out
