"""Formgrader shows instructors the student's notebook: rendered with the grader's Jupyter config
(autograder/hub/deploy.py, grader_jupyter_config), a submission's script never reaches the page."""
import json
import os
import pwd
import re

import nbformat
from nbconvert.exporters import HTMLExporter
from nbgrader.server_extensions.formgrader import handlers
from traitlets.config import Config

from autograder.hub import deploy

HOSTILE_MARKDOWN = '<img src=x onerror="fetch(\'/services/reproducible-ml/api/kernels\', {method: \'POST\'})">'
HOSTILE_OUTPUT = "<script>document.title = 'owned'</script><b>ok</b>"


def live_script(page: str) -> list:
    """The student's markup that a browser would run: a script element, an element with onerror."""
    return re.findall(r"<script>document\.title|<img[^>]*onerror", page)


def render(config: Config) -> str:
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN),
        nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": HOSTILE_OUTPUT, "text/plain": "ok"})])])
    config.HTMLExporter.template_name = "formgrade"          # as nbgrader's formgrader sets it
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"base_url": "/", "nbgrader_url": "/formgrader", "mathjax_url": "", "submission_id": "x",
                 "index": 0, "total": 1, "notebook_id": "nb", "assignment_id": "a", "student": "s",
                 "last_name": "", "first_name": "", "notebook_path": "nb.ipynb"}
    html, _ = HTMLExporter(config=config).from_notebook_node(notebook, resources=resources)
    return html


def test_the_grader_config_sanitizes_student_html(tmp_path):
    deploy.grader_jupyter_config(tmp_path, pwd.getpwuid(os.getuid()))
    config = Config(json.loads((tmp_path / "jupyter" / "jupyter_server_config.json").read_text()))
    page = render(config)
    assert live_script(page) == []
    assert "<b>ok</b>" in page                                  # harmless HTML still shows


def test_without_it_the_page_would_carry_the_script():
    """The control: nbconvert's default leaves both in (so the test above can fail)."""
    page = render(Config())
    assert len(live_script(page)) == 2
