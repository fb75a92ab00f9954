"""A cap on the output a notebook keeps, applied while the kernel produces it.

nbgrader's ``LimitOutput`` counts lines only, after execution: one ``print('x' * 10**8)`` is one
line, and an endless ``print`` loop piles up messages in the grader's memory until the cell
times out. :class:`CapOutput` (mixed into the Execute preprocessor, see
:mod:`autograder.kernel`) counts characters as the outputs arrive: a cell keeps at most
``max_cell_chars``, the notebook at most ``max_notebook_chars``; the first output over the cap is
cut (a stream keeps its head), later ones are dropped, and the cell gets one error output
``OutputLimitExceeded`` naming the limit (so a test cell that floods its output scores 0).
"""
from nbformat.v4 import new_output
from traitlets import Integer
from traitlets.config import Configurable

ENAME = "OutputLimitExceeded"


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


class CapOutput(Configurable):
    """Mixin for an nbclient-based Execute preprocessor: cap the output kept per cell and
    per notebook, in characters."""

    max_cell_chars = Integer(
        100_000, help="Characters of output one cell may keep; the rest is dropped.").tag(config=True)
    max_notebook_chars = Integer(
        1_000_000, help="Characters of output the whole notebook may keep.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._notebook_used = 0
        self._cell_used = {}
        self._capped = set()
        return super().preprocess(nb, resources, km)

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] not in ("stream", "display_data", "execute_result", "error"):
            return super().output(outs, msg, display_id, cell_index)
        used = self._cell_used.get(cell_index, 0)
        room = min(self.max_cell_chars - used, self.max_notebook_chars - self._notebook_used)
        size = output_size(msg["content"])
        if size <= room:
            self._cell_used[cell_index] = used + size
            self._notebook_used += size
            return super().output(outs, msg, display_id, cell_index)
        whole = self.max_notebook_chars - self._notebook_used < self.max_cell_chars - used
        out = None
        if msg["msg_type"] == "stream" and room > 0:  # keep the head of the text
            msg = dict(msg, content=dict(msg["content"], text=msg["content"]["text"][:room]))
            out = super().output(outs, msg, display_id, cell_index)
            self._cell_used[cell_index] = used + room
            self._notebook_used += room
        if cell_index not in self._capped:
            self._capped.add(cell_index)
            limit = ("%d characters for the whole notebook" % self.max_notebook_chars if whole
                     else "%d characters per cell" % self.max_cell_chars)
            message = ("This cell produced more output than the grader keeps (output limit: %s); "
                       "the rest of its output was dropped." % limit)
            outs.append(new_output("error", ename=ENAME, evalue=message,
                                   traceback=["%s: %s" % (ENAME, message)]))
            self.log.warning("cell %d output capped: %s", cell_index, message)
        return out
