"""Submissions that try to pass without doing the work, or to read the grader's secrets.

One real ``nbgrader autograde`` run in a throwaway course grades them all, under the task seed
and a secret seed this test draws (``c.ReexecuteSteps.seeds`` in the course's config, as a
receipt's regrade sets it). Each attack must cost exactly the steps it attacks, with a message,
while the rest of its notebook is graded normally; and no autograded output or feedback page
may hold a reference solution, the secret seed or the course's path.
"""
import json
import random
import secrets
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder.notebook import expected, steps
from autograder.notebook.reexecute import Limits, run_isolated
from support import (EXPECTED, ASSIGNMENT, ROOT, env, fill, nbgrader, release_notebook, run_every_notebook,
                     step_scores, submit)

DATA = expected.load(EXPECTED)
DECL = steps.declaration(DATA["declaration"])
REFERENCE = DATA["reference"]


def scores(seed):
    rng = random.Random(seed)
    return [rng.randint(80, 100) for _ in range(5)]


FIND_CHANNEL = """
import sys, os, json
_frame, _token, _channel = sys._getframe(), None, None
while _frame is not None:
    if isinstance(_frame.f_locals.get("token"), str):
        _token = _frame.f_locals["token"]
    if isinstance(_frame.f_locals.get("write_end"), int):
        _channel = _frame.f_locals["write_end"]
    _frame = _frame.f_back
"""
FORGED = {"error": None, "stdout": "", "generator": "GENERATOR",
          "names": {"accuracy_scores": ["list", [["int", v] for v in scores(42)]]}}

# Every step passes with these: the reference solutions in other words (so that no output of the
# leaky student can contain a reference solution by quoting the student's own code).
OWN = {"step1": "accuracy_scores = list()",
       "step2": "import random as rnd\nrandom = rnd\nrandom.seed(40 + 2)",
       "step3": "accuracy_scores += [random.randint(80, 100) for _ in range(5)]",
       "step4": "print(accuracy_scores)"}

LEAK = r"""
import gc, os, sys
def show(label, value):
    print("=== " + label + ": " + repr(value)[:3000])
frame = sys._getframe()
while frame is not None:
    show("frame locals", {k: v for k, v in frame.f_locals.items() if k not in ("show", "frame")})
    show("frame globals", sorted(frame.f_globals))
    frame = frame.f_back
show("modules", sorted(sys.modules))
show("main", {k: getattr(sys.modules["__main__"], k, None) for k in dir(sys.modules["__main__"])})
show("environ", dict(os.environ))
show("argv", sys.argv)
show("cwd", os.getcwd())
show("random state", random.getstate()[1][:8])
for path in ["/proc/self/cmdline", "/proc/self/environ", "/proc/self/mountinfo", "/proc/1/cmdline",
             "/proc/1/environ", "/proc/1/mountinfo", "/proc/self/cwd", "/proc/1/cwd"]:
    try:
        show(path, os.readlink(path) if path.endswith("cwd") else open(path, "rb").read())
    except Exception as error:
        show(path, error)
try:
    os.lseek(0, 0, 0)
    show("stdin", os.read(0, 100000))
except Exception as error:
    show("stdin", error)
show("strings", [o for o in gc.get_objects() if isinstance(o, dict) and "token" in o][:5])
print(accuracy_scores)
"""

CASES = {  # student -> (answers, steps that earn their points, {step: words of its message})
    "honest": (OWN, {1, 2, 3, 4}, {}),
    # (a) typed-in lists, chosen by looking at the generator's state (seeds 42 and 2026)
    "chooses_by_state": (dict(OWN, step3=(
        "_state = random.getstate()\n"
        f"if _state == random.Random(42).getstate():\n    accuracy_scores = {scores(42)}\n"
        f"else:\n    accuracy_scores = {scores(2026)}")), {1, 2, 4},
        {3: "do not follow the seeded generator"}),
    # (b) finds the pipe its run reports through, hands a passing report over, exits before the harness
    "forges_report": (dict(OWN, step3=FIND_CHANNEL + (
        "accuracy_scores = 'not computed'\n"
        "_forged = json.loads(%r)\n"
        "_forged['generator'] = list(random.getstate()[1])\n"
        "if _channel is not None:\n"
        "    os.write(_channel, (json.dumps(_forged) + '\\n').encode())\n"
        "    os._exit(0)\n" % __import__("json").dumps(FORGED))), {1, 2, 4},
        {3: "seed-42 numbers even when the generator is seeded differently"}),
    # (c) replaces the harness's module-level helpers (and random's) through sys.modules['__main__']
    "swaps_helpers": (dict(OWN, step3=(
        "import sys\naccuracy_scores = 'not computed'\n"
        f"_fake = lambda *args, **kwargs: ['list', [['int', v] for v in {scores(42)}]]\n"
        "_main = sys.modules['__main__']\n"
        "if 'IPython' not in sys.modules:  # the harness, not the notebook's kernel\n"
        "    for _name in [n for n in vars(_main) if not n.startswith('__')]:\n"
        "        setattr(_main, _name, _fake)\n"
        "random.getstate = lambda: random.Random(42).getstate()\n")), {1, 2, 4},
        {3: "accuracy_scores is a str"}),
    # (d) writes a malformed line into that pipe, and lets the harness hand its own over
    "malformed_report": (dict(OWN, step4=FIND_CHANNEL + (
        "print(accuracy_scores)\n"
        "if _channel is not None:\n    os.write(_channel, b'{not json\\n')\n")), {1, 2, 3},
        {4: "no report the grader can accept (not valid JSON)"}),
    # (d) ... or one ill-typed report, and exits
    "ill_typed_report": (dict(OWN, step2=FIND_CHANNEL + (
        "import random\nrandom.seed(42)\n"
        "if _channel is not None:\n    os.write(_channel, b'{\"error\": 1}\\n')\n"
        "    os._exit(0)\n")), {1, 3, 4}, {2: "no report the grader can accept (unexpected fields)"}),
    # (d) ... or a second report line on the stdout of the process its run was forked from (that
    # file is the grader's: the sandbox's uid may not open it)
    "second_report_line": (dict(OWN, step4=FIND_CHANNEL + (
        "print(accuracy_scores)\n"
        "if _token:\n"
        "    with open('/proc/%d/fd/1' % os.getppid(), 'w') as _out:\n"
        "        _out.write(_token + '{\"reports\": []}\\n')\n")), {1, 2, 3},
        {4: "PermissionError on line 12: [Errno 13] Permission denied: '/proc/"}),
    # (e) kills the process its run was forked from (the runs of steps 1, 2, 4 must still count)
    "kills_the_shared_process": (dict(OWN, step3="import os, sys\n" + OWN["step3"] + (
        "\nif 'IPython' not in sys.modules:\n    os.kill(os.getppid(), 9)\n")), {1, 2, 4},
        {3: "The grader re-ran your"}),
    # prints everything it can reach, in the kernel and in the re-execution
    "leaky": (dict(OWN, step4=LEAK), {1, 2, 3}, {4: "your cell printed"}),
}


@pytest.fixture(scope="module")
def graded(course_template, tmp_path_factory):
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("forgery") / "course")
    run_every_notebook(course)  # the leaky cell runs in the kernel too
    secret = secrets.randbits(63)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(f"\nc.ReexecuteSteps.seeds = [{DECL.task_seed}, {secret}]\n")
    for student, (answers, _, _) in CASES.items():
        submit(course, student, fill(release_notebook(course), answers))
    nbgrader(course, "autograde", ASSIGNMENT)
    subprocess.run([sys.executable, "-m", "autograder.course.feedback", ASSIGNMENT, "--course", str(course)],
                   cwd=course, env=env(), check=True, capture_output=True)
    return course, secret, step_scores(course)


@pytest.mark.slow
def test_the_secret_seed_differs_from_the_ones_a_student_can_know(graded):
    _, secret, _ = graded
    assert secret not in (42, 2026) and scores(secret) != scores(42)


@pytest.mark.parametrize("student", CASES)
@pytest.mark.slow
def test_attacks_cost_exactly_the_attacked_steps(graded, student):
    course, _, table = graded
    earned = CASES[student][1]
    want = {f"test_step{n}": n in earned for n in (1, 2, 3, 4)}
    got = {name: table[student][name] > 0 for name in want}
    assert got == want


@pytest.mark.parametrize("student", [s for s in CASES if CASES[s][2]])
@pytest.mark.bwrap
@pytest.mark.slow
def test_attacked_steps_say_why(graded, student):
    course, _, _ = graded
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / "reproducibility.ipynb", as_version=4)
    cells = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    for step, words in CASES[student][2].items():
        (out,) = cells[f"test_step{step}"].outputs
        assert out.output_type == "error" and words in out.evalue, out


def _strings(course, student):
    """Every output string of the autograded notebook, and the feedback pages, of ``student``."""
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / "reproducibility.ipynb", as_version=4)
    found = {}
    for n, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            found[f"output of cell {n}"] = nbformat.writes(nbformat.v4.new_notebook(cells=[
                nbformat.v4.new_code_cell(outputs=[out])]))
    for page in (course / "feedback" / student / ASSIGNMENT).glob("*.html"):
        found[f"feedback {page.name}"] = page.read_text(encoding="utf-8")
    return found


def _secrets(course, secret):
    release = release_notebook(course).read_text(encoding="utf-8")
    hidden = [source for source in REFERENCE.values() if source not in release]  # not public anyway
    assert hidden, "the step reference solutions are not in the release"
    forms = lambda text: {text, repr(text)[1:-1], __import__("json").dumps(text)[1:-1]}  # noqa: E731
    return {"secret seed": forms(str(secret)), "course path": forms(str(course)),
            **{f"reference {n}": forms(text) for n, text in enumerate(hidden)}}


@pytest.mark.slow
def test_the_graders_verdicts_hold_nothing_secret(graded):
    """The test cells' outputs (the grader's verdicts) and the feedback pages of every student."""
    course, secret, _ = graded
    for student in CASES:
        nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / "reproducibility.ipynb", as_version=4)
        texts = [json.dumps(c.outputs) for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        texts += [p.read_text(encoding="utf-8") for p in (course / "feedback" / student / ASSIGNMENT).glob("*.html")]
        for what, variants in _secrets(course, secret).items():
            assert not any(v in text for v in variants for text in texts), (student, what)


@pytest.mark.bwrap
@pytest.mark.slow
def test_nothing_secret_reaches_outputs_or_feedback(graded):
    """Every output of the leaky student's notebook (the kernel's too) and its feedback."""
    course, secret, _ = graded
    secrets_ = _secrets(course, secret)
    found = _strings(course, "leaky")
    assert any("=== frame locals" in text for text in found.values()), "the leaky cell did not run"
    assert any(name.startswith("feedback") for name in found)
    for where, text in found.items():
        for what, variants in secrets_.items():
            assert not any(v in text for v in variants), f"{what} in {where}"


# ---------------------------------------------------------------- the re-execution alone (fast)

def _before(step_id, seed=42):
    return expected.references(DATA, [seed])[seed][step_id]["before"]


def test_the_students_process_gets_data_not_reference_code_or_seeds(monkeypatch):
    """What the child can read of its own job (what is left on stdin, argv, environment, /proc,
    its namespace) holds no reference source, no seed and no gradebook password, only the state
    before the step as data."""
    password = secrets.token_hex(8)
    monkeypatch.setenv("COURSE_DB_URL", f"postgresql://grader:{password}@127.0.0.1:1/course")
    secret = secrets.randbits(63)
    step = DECL.step("step4")
    probe = ("import os, select, sys\nparts = [os.read(0, 10**6) if select.select([0], [], [], 0)[0] else b'',"
             " open('/proc/self/cmdline','rb').read(),"
             " open('/proc/1/cmdline','rb').read(), repr(dict(os.environ)), repr(sys.argv), repr(globals())]\n"
             "print(repr(parts))")
    (run,) = run_isolated([steps.student_task(step, probe, _before("step4", secret))], Limits())
    seen = run.report["stdout"]
    assert "accuracy_scores" in seen  # the state as data is there ...
    for source in REFERENCE.values():  # ... the reference code is not
        assert source not in seen and repr(source)[1:-1] not in seen
    assert str(secret) not in seen and "expected" not in seen and password not in seen


def test_a_step_without_runs_fails():
    step = DECL.step("step1")
    verdict = steps.judge(step, [], {}, DECL.task_seed)
    assert not verdict.passed and "could not re-run" in verdict.message
    references = {seed: found["step1"] for seed, found in expected.references(DATA, [42, 7]).items()}
    (run,) = run_isolated([steps.student_task(step, REFERENCE["step1"], references[42]["before"])])
    assert steps.judge(step, [(42, run), (7, run)], references, 42).passed
    assert not steps.judge(step, [(42, run)], references, 42).passed  # one seed's run missing
    assert not steps.judge(step, [(42, run), (42, run)], references, 42).passed


@pytest.mark.parametrize("line", [b"{", b'{"reports": []}', b'{"reports": [{}]}', b'[1, 2]', b'"x"',
                                  b'{"reports": [{"error": null, "stdout": 5, "names": {}, "generator": []}]}',
                                  b"\xff\xfe", b"[" * 100000])
def test_malformed_reports_fail_the_run_not_the_grader(line):
    from autograder.notebook.harness import parse_reports
    task = steps.student_task(DECL.step("step1"), "", {"names": {}, "generator": []})
    reports, why = parse_reports(b"noise\nTOKEN" + line + b"\n", "TOKEN", [task])
    assert reports is None and why


def test_a_forged_generator_state_fails_the_run_not_the_grader():
    """A report's ``random`` state must be what ``random.getstate()`` gives: 624 words below 2**32
    and a position, ints only (not bools or floats)."""
    import random

    from autograder.notebook.harness import Malformed, check_report
    task = steps.student_task(DECL.step("step1"), "", {"names": {}, "generator": []})
    state = list(random.Random(42).getstate()[1])

    def report(generator):
        return {"error": None, "stdout": "", "names": {"accuracy_scores": None}, "generator": generator}
    check_report(report(state), task)
    for forged in (state[:-1], state + [0], state[:-1] + [625], state[:-1] + [-1], [True] + state[1:],
                   [1.0] + state[1:], [-1] + state[1:], [2 ** 32] + state[1:], [str(state[0])] + state[1:],
                   tuple(state), None):
        with pytest.raises(Malformed):
            check_report(report(forged), task)


def test_messages_about_a_secret_seed_quote_nothing_the_student_printed():
    """Under a secret seed, a wrong outcome gets a fixed message: two cells that print different
    things (say, the seed they guessed) get the same words."""
    step, secret = DECL.step("step4"), secrets.randbits(63)
    references = {seed: found["step4"] for seed, found in expected.references(DATA, [42, secret]).items()}
    verdicts = set()
    for printed in ("1234567", "99999999"):
        cell = f"if accuracy_scores == {scores(42)}:\n    print(accuracy_scores)\nelse:\n    print({printed})"
        runs = list(zip(references, run_isolated([steps.student_task(step, cell, references[seed]["before"])
                                                  for seed in references])))
        verdict = steps.judge(step, runs, references, 42)
        assert not verdict.passed and printed not in verdict.message
        verdicts.add(verdict.message)
    assert len(verdicts) == 1


def test_look_alike_report_lines_change_nothing():
    """A cell that writes look-alike lines to its stdout changes nothing (a run's stdout is a
    file of its own; its report goes through a pipe, the shared process's through a token line)."""
    step = DECL.step("step1")
    cell = "import os\nos.write(1, b'{\"reports\": []}\\n{}\\n')\naccuracy_scores = []"
    (run,) = run_isolated([steps.student_task(step, cell, _before("step1"))])
    assert run.report and run.report["names"]["accuracy_scores"] == ["list", []]


def test_graded_steps_use_the_declaration_only():
    """No grader module names the assignment's steps, names or numbers."""
    for module in ("steps", "preprocessors", "reexecute", "harness", "expected", "reexecution_seeds"):
        text = (ROOT / "autograder" / "notebook" / f"{module}.py").read_text(encoding="utf-8")
        for word in ("accuracy_scores", "step1", "step3", "42", "2026", "randint(80"):
            assert word not in text, (module, word)
