"""Formgrader's "Generate Feedback" writes the course's safe pages, not nbgrader's.

nbgrader's ``GenerateFeedback`` (run by ``nbgrader generate_feedback`` and by every formgrader
button, through ``NbGraderAPI.generate_feedback``) renders the whole autograded notebook: every
test cell's source, hidden tests included. The course's ``nbgrader_config.py`` keeps nbgrader's
converter (it picks the submissions, clears old pages, sets permissions) but gives it
:class:`CourseFeedbackExporter` and no preprocessors: each notebook's page is the one
:func:`autograder.course.feedback.generate` writes for that student (points and failed-check
messages only), with ``timestamp.txt`` and ``submission_secret.txt`` for ``release_feedback``.
On the hub's deployed course the quiz stays withheld on these pages as on the grading service's
(:func:`autograder.hub.attempts.withheld`) until the instructor releases it or its deadline passes.
"""
from pathlib import Path

from nbconvert.exporters import Exporter
from traitlets import Dict, default

from ..course import feedback


class CourseFeedbackExporter(Exporter):
    """An nbconvert exporter whose output for an autograded notebook is the course's page."""

    output_mimetype = "text/html"
    written = Dict(help="{(assignment, student): {notebook: page path}} of this run")

    @default("file_extension")
    def _file_extension_default(self):
        return ".html"

    def from_notebook_node(self, nb, resources=None, **kw):
        _, resources = super().from_notebook_node(nb, resources, **kw)
        info = resources["nbgrader"]
        key = (info["assignment"], info["student"])
        if key not in self.written:  # one call per student writes all of the assignment's pages
            course = Path(self.parent.coursedir.root)
            pages = feedback.generate(course, key[0], [key[1]], info["db_url"], withheld=self.withheld(key[0]))
            self.written[key] = {page.stem: page for page in pages}
        page = self.written[key].get(info["notebook"])
        if page is None:
            raise feedback.NotGraded(f"no graded notebook {info['notebook']!r} of {key[1]!r} in the "
                                     f"gradebook", key[0])
        return page.read_text(encoding="utf-8"), resources

    def withheld(self, assignment: str) -> dict:
        """What the grading service withholds of ``assignment`` now, when this is the hub's
        deployed course (``CourseHub.course_root``/course, with its grading journal); else {}."""
        from .attempts import Journal, withheld
        from .settings import CourseHub
        hub = CourseHub(config=self.parent.config)
        course = Path(self.parent.coursedir.root).resolve()
        queue = Path(hub.course_root) / "grading" / "queue.db"
        if course != (Path(hub.course_root) / "course").resolve() or not queue.is_file():
            return {}
        journal = Journal(queue)
        try:
            return withheld(journal, assignment, hub.quiz_release.get(assignment),
                            Path(course, self.parent.coursedir.source_directory), self.log.warning)
        finally:
            journal.close()
