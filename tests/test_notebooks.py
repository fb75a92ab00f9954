"""The committed notebooks: clean, the release in sync with source, validate behaves, and the
visible checks (one line each, calling the released checks.py) teach the same whatever the order
and number of times a student runs them, and never touch the random generator."""
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert.filters import strip_ansi
from nbformat.v4 import new_code_cell

from autograder.course import kit
from autograder.notebook import assignments, expected
from corpus import reproducibility
from support import EXPECTED, QUIZ_KEY, ASSIGNMENT, ROOT, fill, nbgrader

NOTEBOOKS = sorted(p for folder in ("source", "release", "notebooks") for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} have outputs or execution counts: clear them before committing"


def files(folder: Path) -> dict:
    """Every file under ``folder`` but Python's bytecode cache (importing checks.py or practice.py
    next to a notebook writes one; git ignores it)."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("assignment", assignments.names(ROOT / "source"))
def test_release_is_exactly_what_generate_assignment_makes(course_template, tmp_path, assignment):
    course = shutil.copytree(course_template, tmp_path / "course")
    if assignment != ASSIGNMENT:  # the template releases the first one only
        nbgrader(course, "generate_assignment", assignment, "--force")
    generated = files(course / "release" / assignment)
    committed = files(ROOT / "release" / assignment)
    assert sorted(committed) == sorted(generated)
    stale = [str(name) for name in generated if committed[name] != generated[name]]
    assert not stale, f"release/ is stale, run `python -m autograder release`: {stale}"


def test_release_holds_no_solutions_hidden_tests_or_expected_values():
    """The lesson may teach the code in prose; the answer cells must come blank, and neither the
    markers nor the seed-42 scores may appear anywhere: not in the notebooks, not in the helpers
    released beside them (checks.py, practice.py), which the kit's secret scan passes too."""
    data = expected.load(EXPECTED)
    seed_42_scores = [value for _, value in data["outcomes"]["step3"]["names"]["accuracy_scores"][1]]
    assert len(seed_42_scores) == 5
    released = files(ROOT / "release" / ASSIGNMENT)
    assert Path("checks.py") in released
    for name, content in released.items():
        text = content.decode()
        for secret in ["BEGIN SOLUTION", "BEGIN HIDDEN TESTS", str(seed_42_scores).strip("[]"),
                       "Decided outside your kernel"]:
            assert secret not in text, f"{name} reveals {secret!r}"
    assert kit.find_secrets({f"release/{ASSIGNMENT}/{name}": content for name, content in released.items()}) == []
    for path in (ROOT / "release" / ASSIGNMENT).rglob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        answers = [cell.source for cell in cells if cell.metadata.get("nbgrader", {}).get("solution")]
        for step, solution in data["reference"].items():
            assert not any(solution in answer for answer in answers), f"{path.name} ships the {step} solution"


def test_the_kit_scan_catches_a_secret_pasted_into_checks_py():
    """checks.py ships to students like the notebooks; the kit's scan reads it like any file."""
    from autograder.notebook import quiz
    cells = nbformat.read(ROOT / "source" / ASSIGNMENT / "reproducibility.ipynb", as_version=4).cells
    hidden = next(kit.HIDDEN.findall(c.source)[0] for c in cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "test_step3")
    answer = quiz.load(QUIZ_KEY)["q01"]["answer"]
    checks_py = (RELEASE / "checks.py").read_bytes()
    for planted, finding in ((hidden, "hidden test of reproducibility.ipynb:test_step3"),
                             (f"ANSWER = {{'q01': '{answer}'}}\nq01 = '{answer}'", "solution of quiz.ipynb:q01")):
        found = kit.find_secrets({f"release/{ASSIGNMENT}/checks.py": checks_py + b"\n" + planted.encode()})
        assert any(finding in f for f in found), found


@pytest.mark.slow
def test_validate_passes_on_the_source_notebook(course_template):
    run = nbgrader(course_template, "validate", str(course_template / "source" / ASSIGNMENT / "reproducibility.ipynb"))
    assert "Success! Your notebook passes all the tests." in run.stdout


@pytest.mark.slow
def test_validate_fails_every_step_on_the_blank_release(course_template):
    blank = str(course_template / "release" / ASSIGNMENT / "reproducibility.ipynb")
    assert "VALIDATION FAILED ON 4 CELL(S)" in nbgrader(course_template, "validate", blank).stdout
    inverted = nbgrader(course_template, "validate", "--invert", blank).stdout
    assert "Success! The notebook does not pass any tests." in inverted


# ------------------------------------------------------------------ the visible checks

RELEASE = ROOT / "release" / ASSIGNMENT
REFERENCE = reproducibility.REFERENCE
CHECK_LINE = re.compile(r"import checks; checks\.(step|question)\((\d+)\)")


def test_every_visible_check_cell_is_one_line_calling_the_released_helper():
    """Validate shows a failing cell's source before its error: one short line, then the message.
    The instructor's cells keep their hidden region (a comment: the grader decides outside the
    kernel) after that line."""
    for name, kind, count in (("reproducibility.ipynb", "step", 4), ("quiz.ipynb", "question", 10)):
        released = [c for c in nbformat.read(RELEASE / name, as_version=4).cells
                    if c.metadata.get("nbgrader", {}).get("grade")]
        source = [c for c in nbformat.read(ROOT / "source" / ASSIGNMENT / name, as_version=4).cells
                  if c.metadata.get("nbgrader", {}).get("grade")]
        assert [c.source for c in released] == [f"import checks; checks.{kind}({n})" for n in range(1, count + 1)]
        for public, instructor in zip(released, source):
            visible, hidden = instructor.source.split("### BEGIN HIDDEN TESTS\n")
            assert visible == public.source + "\n"
            assert hidden.endswith("### END HIDDEN TESTS") and all(
                line.startswith("#") for line in hidden.splitlines()), instructor.metadata.nbgrader.grade_id


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """Every per-user directory a kernel could write to, in a temporary folder."""
    base = tmp_path_factory.mktemp("kernel-env")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("HOME", "IPYTHONDIR", "MPLCONFIGDIR", "JUPYTER_RUNTIME_DIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
            (base / var).mkdir()
            mp.setenv(var, str(base / var))
        yield base


class Session:
    """One released notebook, answers filled in, in a kernel of its own, run the way a student
    runs it: any cell, by grade_id, as often as wanted."""

    def __init__(self, client: NotebookClient, nb):
        self.client, self.nb = client, nb
        nb.cells.append(new_code_cell(""))  # the scratch cell for `silently`

    def index(self, grade_id: str) -> int:
        return next(i for i, c in enumerate(self.nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)

    def run(self, grade_id: str) -> list:
        i = self.index(grade_id)
        return self.client.execute_cell(self.nb.cells[i], i).outputs

    def run_all(self) -> None:
        for i, cell in enumerate(self.nb.cells[:-1]):
            if cell.cell_type == "code":
                self.client.execute_cell(cell, i)

    def silently(self, code: str) -> str:
        """stdout of ``code``, run outside the input history (so no check ever sees it)."""
        cell = self.nb.cells[-1]
        cell.source = code
        outputs = self.client.execute_cell(cell, len(self.nb.cells) - 1, store_history=False).outputs
        assert all(o.output_type == "stream" for o in outputs), outputs
        return "".join(o.text for o in outputs)


@contextmanager
def session(kernel_env, tmp_path, answers: dict, notebook: str = "reproducibility.ipynb"):
    folder = shutil.copytree(RELEASE, tmp_path / "student")
    nb = fill(folder / notebook, answers)
    client = NotebookClient(nb, kernel_name="python3", timeout=60, allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    with client.setup_kernel():
        yield Session(client, nb)


def verdict(outputs: list) -> str:
    """What a check cell shows: its printed line, or its error as Jupyter shows it (lines of at
    most 80 characters, joined here)."""
    if outputs and all(o.output_type == "stream" and o.name == "stdout" for o in outputs):
        return "".join(o.text for o in outputs).strip()  # one print may come in several messages
    assert len(outputs) == 1, outputs
    out = outputs[0]
    assert out.output_type == "error", out
    lines = strip_ansi("\n".join(out.traceback)).splitlines()
    assert max(map(len, lines)) <= 80, lines
    return " ".join(" ".join(lines).split())


def test_a_failing_check_shows_only_its_message(kernel_env, tmp_path):
    """No traceback through checks.py: the error is one line, `CheckFailed: <message>`, so the
    message is what the notebook and the Validate dialog show first."""
    with session(kernel_env, tmp_path, {**REFERENCE, "step2": reproducibility.STEP2_SEED_7}) as s:
        s.run("step2")
        shown = verdict(s.run("test_step2"))
    assert shown == ("CheckFailed: random is seeded with 7, but this task uses 42. Any fixed seed makes a "
                     "run repeatable, yet everyone must use the same seed to get the same numbers: "
                     "random.seed(42)")


BARE_NAME = ("CheckFailed: Your step 4 cell does not print the list: Jupyter only displays the value "
             "of the bare name on the cell's last line (the Out[...] line). Your answer is graded by "
             "running the cell as plain Python, where that line shows nothing. Use print(accuracy_scores).")


@pytest.mark.parametrize("step4, message", [
    (REFERENCE["step4"], "Step 4 looks right: the scores are printed."),
    ("accuracy_scores", BARE_NAME),
    ("print('scores:', accuracy_scores)", "CheckFailed: Your step 4 cell printed 'scores: [100, 83, 80, 88, 87]', "
                                          "not the list itself. Use print(accuracy_scores)."),
    ("x = accuracy_scores", "CheckFailed: Your step 4 cell prints nothing; use print(accuracy_scores). (This "
                            "check re-runs the last cell you ran before it: run your step 4 cell, then this check.)"),
    ("display(accuracy_scores)", "CheckFailed: Your step 4 cell prints nothing; use print(accuracy_scores). (This "
                                 "check re-runs the last cell you ran before it: run your step 4 cell, then this check.)"),
], ids=["print", "displayed-bare-name", "other-text", "silent", "display-call"])
def test_the_step_4_check_gives_the_same_message_run_once_twice_three_times(kernel_env, tmp_path, step4, message):
    """Run All, then the check again and again: each run looks at the step 4 answer cell (not at
    the check's own earlier run), never recurses, and says the same."""
    with session(kernel_env, tmp_path, {**REFERENCE, "step4": step4}) as s:
        s.run_all()
        shown = [verdict(s.nb.cells[s.index("test_step4")].outputs)]
        shown += [verdict(s.run("test_step4")) for _ in range(2)]
        if step4 == "accuracy_scores":  # the answer cell itself displayed the list
            displayed = s.nb.cells[s.index("step4")].outputs
            assert [o.output_type for o in displayed] == ["execute_result"]
            assert displayed[0].data["text/plain"] == "[100, 83, 80, 88, 87]"
        # the answer cell run again, then its check twice: the same again
        s.run("step4")
        shown += [verdict(s.run("test_step4")) for _ in range(2)]
    assert shown == [message] * 5
    assert not any("RecursionError" in text or "raised CheckFailed" in text for text in shown)


def test_checks_run_in_any_order_and_again_say_what_they_see(kernel_env, tmp_path):
    """Each check, run twice right after its answer cell, says the same; step 4's check before any
    answer cell ran asks for it instead of re-running something else."""
    with session(kernel_env, tmp_path, REFERENCE) as s:
        assert verdict(s.run("test_step4")).startswith("CheckFailed: Run your step 4 cell first")
        for n in range(1, 5):
            s.run(f"step{n}")
            first, second = verdict(s.run(f"test_step{n}")), verdict(s.run(f"test_step{n}"))
            assert first == second and first.startswith(f"Step {n} looks right"), (n, first, second)


STATE = "import random as _r, hashlib as _h; print(_h.sha256(repr(_r.getstate()).encode()).hexdigest())"


@pytest.mark.parametrize("answers", [
    REFERENCE,
    {**REFERENCE, "step2": reproducibility.STEP2_SEED_7},
    {**REFERENCE, "step2": reproducibility.STEP2_NO_SEED},
    {**REFERENCE, "step3": reproducibility.STEP3_RANGE_6},
    {**REFERENCE, "step4": "print(accuracy_scores)\nrandom.random()"},
    {**REFERENCE, "step4": "random.shuffle(accuracy_scores)\nprint(accuracy_scores)"},
    {**REFERENCE, "step4": "print(accuracy_scores, random.random())\nraise ValueError('late')"},
    {},
], ids=["reference", "seed-7", "no-seed", "range-6", "draws-after-printing", "shuffles", "draws-and-raises", "blank"])
def test_visible_checks_leave_random_unchanged(kernel_env, tmp_path, answers):
    """The README's promise: every check cell, passing or failing, run once or twice, leaves
    random.getstate() as it found it, and the student's list too (step 4's check re-runs the
    answer cell on a copy); run twice, it says the same."""
    with session(kernel_env, tmp_path, answers) as s:
        for n in range(1, 5):
            s.run(f"step{n}")
            scores = s.silently("print(globals().get('accuracy_scores'))")
            shown = []
            for _ in range(2):
                before = s.silently(STATE)
                shown.append(verdict(s.run(f"test_step{n}")))
                assert s.silently(STATE) == before, f"check {n} changed the generator"
            assert s.silently("print(globals().get('accuracy_scores'))") == scores, f"check {n} changed the list"
            assert shown[0] == shown[1] and shown[0].startswith((f"Step {n} looks right", "CheckFailed: ")), shown


def test_quiz_checks_leave_random_unchanged_and_name_the_letters(kernel_env, tmp_path):
    answers = {"q01": 'q01 = "b "', "q02": 'q02 = "E"', "q03": "q03 = 3", "q04": 'q04 = ""'}
    with session(kernel_env, tmp_path, answers, notebook="quiz.ipynb") as s:
        s.silently("import random; random.seed(3)")
        before = s.silently(STATE)
        s.run_all()
        assert s.silently(STATE) == before
        shown = {n: verdict(s.nb.cells[s.index(f"test_q{n:02d}")].outputs) for n in range(1, 6)}
    assert shown[1] == "Question 1: your answer B is one of the options; it is graded when you submit."
    assert shown[2] == "CheckFailed: q02 is 'E', which is not one of the letters A, B, C, D (upper or lower case)."
    assert shown[3] == "CheckFailed: q03 holds a int; put the letter in quotes so that it is a string."
    assert shown[4] == "CheckFailed: q04 is empty: put your letter between the quotes."
    assert shown[5].startswith("CheckFailed: Question 5 is not answered yet")


@pytest.mark.slow
def test_validate_shows_the_message_right_under_the_one_line_check(course_template, tmp_path):
    """nbgrader validate (what the Validate button runs) on a wrong step 4: the failing cell is one
    line and the error under it is the teaching message."""
    folder = shutil.copytree(course_template / "release" / ASSIGNMENT, tmp_path / "student")
    nbformat.write(fill(folder / "reproducibility.ipynb", {**REFERENCE, "step4": "accuracy_scores"}),
                   folder / "reproducibility.ipynb")
    out = strip_ansi(nbgrader(course_template, "validate", str(folder / "reproducibility.ipynb")).stdout)
    assert "VALIDATION FAILED ON 1 CELL(S)" in out
    failed = out.split("The following cell failed:", 1)[1]
    assert not any(line.endswith("...") for line in failed.splitlines()), failed  # none cut at 90 characters
    assert " ".join(failed.split()) == f"import checks; checks.step(4) The error was: {BARE_NAME}", failed


# ------------------------------------------------------------------ the lessons

LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_a_lesson_says_validate_has_nothing_to_check_in_it(path):
    """A lesson has no check cells, so nbgrader's Validate finds nothing to fail and its dialog
    says "Success! Your notebook passes all the tests." (nbgrader's fixed text for an empty result;
    see the test below). The lesson says so before the student clicks it."""
    intro = nbformat.read(path, as_version=4).cells[0]
    assert intro.cell_type == "markdown"
    text = " ".join(re.sub(r"^> ?", "", intro.source, flags=re.M).split())  # a quote's lines, joined
    assert "not graded" in text.lower() and "**Validate**" in text and "nothing to check" in text, text
    assert '"Success! Your notebook passes all the tests." even if a cell fails' in text, text


@pytest.mark.slow
def test_validate_on_a_lesson_finds_no_test(course_template, tmp_path):
    """What the lessons' note says: nbgrader's Validate reports success on a lesson, even with a
    cell that fails, because a notebook without grade cells has nothing it checks."""
    nb = nbformat.read(LESSONS[0], as_version=4)
    nb.cells.append(new_code_cell("raise ValueError('a lesson cell that fails')"))
    nbformat.write(nb, tmp_path / LESSONS[0].name)
    run = nbgrader(course_template, "validate", str(tmp_path / LESSONS[0].name))
    assert "Success! Your notebook passes all the tests." in run.stdout
    assert not any(c.metadata.get("nbgrader") for path in LESSONS
                   for c in nbformat.read(path, as_version=4).cells)
