"""The student's experience in a real browser, in both places a student starts JupyterLab.

"repo": the JupyterLab that `make lab` starts (lab/run-lab.sh) in the course repository, on a
temporary working folder. "kit": the student kit (`python -m autograder.course.kit`) unpacked into an empty
folder and started with its one command, `bash start-lab.sh`, which creates the kit's own venv with
Debian's /usr/bin/python3 (CPython 3.11.2) from the kit's requirements.txt; the course repository is
not on PATH. In each, headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) types the
four step answers, runs all cells, checks the printed scores and clicks Validate; then does the same
for an untouched (blank) copy and checks that the Validate dialog lists the failing cells, and for a
copy with a wrong step 4 and checks that the dialog shows the check's teaching message at its top.
Screenshots go to artifacts/browser/<repo|kit>/ (git ignores /artifacts/); the wrong step's dialog
also to artifacts/browser/validate-wrong-step.png (from the course repository's lab). Servers are
stopped by their own pid.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import zipfile

import nbformat
import pytest

from autograder.course import kit, lock
from corpus import reproducibility
from browser_support import CHROMIUM, CHROMIUM_ARGS, REPO, StudentLab

pytestmark = pytest.mark.browser

ASSIGNMENT = "reproducibility"
RELEASE_NB = REPO / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
ARTIFACTS = REPO / "artifacts" / "browser"
ANSWERS = reproducibility.REFERENCE
EXPECTED_SCORES = "[100, 83, 80, 88, 87]"
PANEL = ".jp-NotebookPanel:visible"


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (f"{CHROMIUM} is missing: the browser test needs Debian's chromium "
               "(apt-get install chromium; .ci/run installs it).")
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message + " Skipped because this is not CI (CI is unset).")


def _release_cells() -> dict[str, str]:
    nb = nbformat.read(RELEASE_NB, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def kit_python() -> str:
    """Debian's own interpreter (3.11.2, the oldest the course supports) for the kit's venv."""
    debian = Path("/usr/bin/python3")
    version = subprocess.run([str(debian), "-c", "import sys; print(sys.version_info >= (3, 11))"],
                             capture_output=True, text=True).stdout.strip() if debian.exists() else ""
    if version != "True":
        pytest.skip(f"{debian} is not a CPython 3.11+ here (this machine is not Debian 12)")
    return str(debian)


def unpack_kit(base: Path) -> Path:
    """Build the student kit and unzip it into an empty folder; the kit's own folder."""
    archive = kit.build(base / "dist")
    (base / "unpacked").mkdir()
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(base / "unpacked")
    return base / "unpacked" / kit.kit_name()


@pytest.fixture(scope="module", params=["repo", "kit"])
def lab(request, tmp_path_factory):
    _require_chromium()
    assert RELEASE_NB.exists(), f"{RELEASE_NB} is missing; run `make release`"
    base = tmp_path_factory.mktemp(f"student-lab-{request.param}")
    if request.param == "repo":
        workdir = base / "work"
        server = StudentLab(workdir, base / "state", base / "jupyterlab.log")
        server.requirements = REPO / "requirements.lock"
        timeout = 90
    else:
        home = unpack_kit(base)
        workdir = home / "student"
        server = StudentLab(workdir, base / "state", base / "jupyterlab.log", home=home,
                            launcher="start-lab.sh", extra_env={"PYTHON": kit_python()})
        server.requirements = home / "requirements.txt"
        timeout = 900  # the first start installs the kit's requirements (pip's cache helps)
    # An untouched copy for the "blank notebook" check, next to the copy run-lab.sh makes itself.
    workdir.mkdir()
    shutil.copytree(RELEASE_NB.parent, workdir / "blank")
    server.artifacts = ARTIFACTS / request.param
    server.artifacts.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    server.start(timeout=timeout)
    server.startup_seconds = time.monotonic() - started
    print(f"{request.param}: JupyterLab answered after {server.startup_seconds:.1f} s")
    server.copied_release = (workdir / ASSIGNMENT / RELEASE_NB.name).read_bytes() == RELEASE_NB.read_bytes()
    try:
        yield server
    finally:
        server.stop()
    assert server.proc.returncode is not None, "the JupyterLab server is still running"


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    browser_home = lab.workdir.parent / "browser-home"
    browser_home.mkdir()
    env = dict(lab.env, HOME=str(browser_home), XDG_CONFIG_HOME=str(browser_home / ".config"),
               XDG_CACHE_HOME=str(browser_home / ".cache"))
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env)
        try:
            yield chromium
        finally:
            chromium.close()


def _open_notebook(browser, lab, path: str):
    """A new browser page showing one notebook, in a fresh workspace, kernel idle."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(lab.url(f"/lab/tree/{path}?reset"))
    panel = page.locator(PANEL)
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for()
    panel.locator(".validate-button").wait_for()
    page.locator("#jp-main-statusbar").get_by_text("Idle").wait_for()
    _dismiss_news_prompt(page)
    return context, page, panel


def _dismiss_news_prompt(page) -> None:
    """JupyterLab asks once whether to fetch Jupyter news; answer No so it covers nothing."""
    button = page.locator(".jp-toast-button, .Toastify button").filter(has_text=re.compile(r"^No$"))
    try:
        button.first.click(timeout=3_000)
    except Exception:
        pass  # no prompt this time


def _run_all_cells(page, panel) -> None:
    page.locator(".lm-MenuBar-itemLabel").filter(has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel").filter(has_text=re.compile(r"^Run All Cells$")).click()
    # Run All is finished when no prompt shows [*] and the kernel is idle again.
    page.wait_for_function(
        """() => {
            const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent);
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.innerText);
            return prompts.some(p => /\\[\\d+\\]/.test(p)) && !prompts.some(p => p.includes('*'));
        }"""
    )
    page.locator("#jp-main-statusbar").get_by_text("Idle").wait_for()


def _validate(page, panel):
    """Click Validate; return the dialog's message element once the result is shown."""
    panel.locator(".validate-button").click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=120_000)
    return message


def _code_cells(panel):
    return panel.locator(".jp-Notebook .jp-CodeCell")


def test_run_lab_copied_the_release_and_the_lessons(lab):
    assert lab.copied_release, "lab/run-lab.sh did not copy release/reproducibility into the working folder"
    lessons = sorted(p.name for p in (lab.workdir / "lessons").glob("*.ipynb"))
    assert lessons == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert lab.proc.poll() is None
    # run-lab.sh `exec`s jupyter lab: the pid we stop is the server's own, not a wrapping shell.
    cmdline = Path(f"/proc/{lab.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert any(part.endswith((b"jupyter-lab", b"jupyter")) for part in cmdline[:2]), cmdline


def test_the_kernel_is_the_course_environment(lab):
    venv_bin = lab.venv / "bin"
    listed = subprocess.run([str(venv_bin / "jupyter"), "kernelspec", "list", "--json"],
                            env=lab.env, capture_output=True, text=True, check=True)
    spec = json.loads(listed.stdout)["kernelspecs"]["python3"]
    # A bare "python" argv is replaced by the server's own interpreter: the venv's python.
    assert spec["spec"]["argv"][0] in ("python", "python3", str(venv_bin / "python"))
    assert Path(spec["resource_dir"]).resolve().is_relative_to(lab.venv.resolve())
    # The server runs on the venv's interpreter (the jupyter script's shebang), not on another one.
    interpreter = Path(f"/proc/{lab.proc.pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    assert Path(interpreter).parent == venv_bin, interpreter


def test_the_environment_holds_the_pinned_versions(lab):
    """The kit's venv is exactly its requirements.txt; the course's venv holds every pin of
    requirements.lock (and the course package itself, installed editable)."""
    python = str(lab.venv / "bin" / "python")
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    frozen = subprocess.run([python, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    installed = lock.parse("\n".join(line for line in frozen if "==" in line and not line.startswith(("#", "-e"))
                                      and not line.startswith(("pip==", "wheel=="))))
    pins = lock.parse(lab.requirements.read_text())
    if lab.home == REPO:
        assert {name: installed.get(name) for name in pins} == pins
    else:
        assert installed == pins


def test_instructor_tools_and_the_terminal_are_off(lab, browser):
    assert lab.status("/formgrader") == 404
    assert lab.status("/api/terminals") == 404
    assert lab.status("/assignments?course_id=x") == 404  # the Assignment List needs an exchange
    assert lab.status("/nbgrader_version?version=0.9.6") == 200  # Validate's server side is on
    context, page, panel = _open_notebook(browser, lab, f"{ASSIGNMENT}/{RELEASE_NB.name}")
    try:
        menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        assert "Run" in menus and "Nbgrader" not in menus, menus
        assert page.locator("#jp-mainmenu-nbgrader").count() == 0
        assert page.locator(".nbgrader-CreateAssignmentWidget, #nbgrader-create_assignment").count() == 0
        assert panel.locator(".validate-button").is_visible()
        config = json.loads(page.locator("#jupyter-config-data").text_content())
        disabled = config["disabledExtensions"]
        for plugin in ("formgrader", "create-assignment", "course-list", "assignment-list", "menu"):
            assert f"@jupyter/nbgrader:{plugin}" in disabled
        assert "@jupyter/nbgrader:validate-assignment" not in disabled
        assert "@jupyterlab/apputils-extension:announcements" in disabled  # no "Jupyter news?" prompt
        assert page.get_by_text("official Jupyter news").count() == 0
        assert config["terminalsAvailable"] is False
    finally:
        context.close()


def _type_answers(page, panel, answers: dict[str, str]) -> None:
    """Type each answer, in order, into the next answer cell still showing YOUR CODE HERE."""
    solutions = _code_cells(panel).filter(has_text="YOUR CODE HERE")
    assert solutions.count() == len(answers)
    for grade_id, answer in answers.items():
        cell = _code_cells(panel).filter(has_text="YOUR CODE HERE").first
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        # insert_text types the answer as one input, so the editor's auto-indent does not
        # double the loop body's indentation.
        page.keyboard.insert_text(answer)
        page.keyboard.press("Escape")
    sources = _code_cells(panel).locator(".cm-content").all_inner_texts()
    for answer in answers.values():
        assert answer in sources, f"{answer!r} was not typed into a cell: {sources}"


def test_answered_notebook_prints_the_scores_and_validates(lab, browser):
    context, page, panel = _open_notebook(browser, lab, f"{ASSIGNMENT}/{RELEASE_NB.name}")
    try:
        _type_answers(page, panel, ANSWERS)

        _run_all_cells(page, panel)

        step4 = _code_cells(panel).filter(has=page.locator(".cm-content", has_text=ANSWERS["step4"])).first
        printed = step4.locator(".jp-OutputArea-output").all_inner_texts()
        assert [p.strip() for p in printed] == [EXPECTED_SCORES]
        errors = panel.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        assert errors.count() == 0, errors.all_inner_texts()
        step4.scroll_into_view_if_needed()
        page.wait_for_timeout(500)  # let JupyterLab paint the cells it renders lazily
        page.screenshot(path=str(lab.artifacts / "01-answered-run-all.png"))

        message = _validate(page, panel)
        assert "validation-success" in message.get_attribute("class")
        assert "Success! Your notebook passes all the tests." in message.inner_text()
        page.screenshot(path=str(lab.artifacts / "02-answered-validate.png"))
        assert "without encryption" not in lab.log()  # the kernels that ran and validated said nothing
        page.locator(".jp-Dialog .jp-mod-accept").click()
    finally:
        context.close()


def test_blank_notebook_validate_lists_the_failing_cells(lab, browser):
    context, page, panel = _open_notebook(browser, lab, f"blank/{RELEASE_NB.name}")
    try:
        assert _code_cells(panel).filter(has_text="YOUR CODE HERE").count() == len(ANSWERS)
        _run_all_cells(page, panel)
        first_error = panel.locator(".jp-OutputArea-output").filter(has_text="NotImplementedError").first
        first_error.wait_for()
        first_error.scroll_into_view_if_needed()
        page.wait_for_timeout(500)  # let JupyterLab paint the cells it renders lazily
        page.screenshot(path=str(lab.artifacts / "03-blank-run-all.png"))

        message = _validate(page, panel)
        text = message.inner_text()
        assert "validation-failed" in message.get_attribute("class"), text
        # Every visible test cell fails while the answers are missing, and the dialog shows each one.
        assert text.count("The following cell failed:") == len(ANSWERS), text
        cells = _release_cells()
        for step in ANSWERS:
            first_line = cells[f"test_{step}"].splitlines()[0]
            assert first_line in text, f"the dialog does not show test_{step} ({first_line!r}):\n{text}"
        page.screenshot(path=str(lab.artifacts / "04-blank-validate.png"))
        page.locator(".jp-Dialog .jp-mod-accept").click()
    finally:
        context.close()


# The step 4 check's message for a bare name on the cell's last line (issue 19, item 3).
WRONG_STEP4 = "accuracy_scores"
WRONG_STEP4_MESSAGE = ("CheckFailed: Your step 4 cell does not print the list: Jupyter only displays "
                       "the value of the bare name on the cell's last line (the Out[...] line). Your "
                       "answer is graded by running the cell as plain Python, where that line shows "
                       "nothing. Use print(accuracy_scores).")


def test_validate_on_a_wrong_step_shows_the_teaching_message_first(lab, browser):
    """A student types steps 1-3 right and step 4 as a bare name, and clicks Validate (which
    saves and runs the notebook): the dialog lists one failing cell, shows its one-line check and
    right under it the check's message, all of it in view without scrolling."""
    shutil.copytree(lab.home / "release" / ASSIGNMENT, lab.workdir / "wrong-step")
    context, page, panel = _open_notebook(browser, lab, f"wrong-step/{RELEASE_NB.name}")
    try:
        _type_answers(page, panel, {**ANSWERS, "step4": WRONG_STEP4})
        message = _validate(page, panel)
        text = message.inner_text()
        assert "validation-failed" in message.get_attribute("class"), text
        assert text.count("The following cell failed:") == 1, text
        assert "import checks; checks.step(4)" in text, text
        assert " ".join(WRONG_STEP4_MESSAGE.split()) in " ".join(text.split()), text
        # Near the top: after the heading and the one-line cell, nothing comes before the message.
        before = " ".join(text[:text.index("CheckFailed: ")].split())
        assert before == "The following cell failed: import checks; checks.step(4)", before
        # In view as the dialog opens: the message's box ends inside the dialog's visible body.
        error = message.locator("pre").filter(has_text="CheckFailed: ").first
        body = page.locator(".jp-Dialog-content").first
        error_box, body_box = error.bounding_box(), body.bounding_box()
        assert body_box["y"] <= error_box["y"] and \
            error_box["y"] + error_box["height"] <= body_box["y"] + body_box["height"], (error_box, body_box)
        # and whole: the dialog does not wrap a cell's output, so the check's lines are short.
        assert error.evaluate("e => e.scrollWidth <= e.clientWidth"), "the message runs off to the right"
        shot = lab.artifacts / "validate-wrong-step.png"
        page.screenshot(path=str(shot))
        if lab.home == REPO:
            shutil.copy(shot, ARTIFACTS / "validate-wrong-step.png")
        page.locator(".jp-Dialog .jp-mod-accept").click()
        # Validate saved the notebook first; its check cells are still the released one-liners.
        saved = nbformat.read(lab.workdir / "wrong-step" / RELEASE_NB.name, as_version=4)
        tests = [c.source for c in saved.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert tests == [f"import checks; checks.step({n})" for n in range(1, 5)]
    finally:
        context.close()


def test_nothing_was_written_to_the_servers_home(lab):
    home = Path(lab.env["HOME"])
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert written == [], f"JupyterLab or its kernels wrote into HOME: {written}"
