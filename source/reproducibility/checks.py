"""The check cells of reproducibility.ipynb and quiz.ipynb (they teach; they do not grade).

Keep this file next to the notebooks: each check cell is one line that calls it, for example::

    import checks; checks.step(4)        # under the step 4 answer cell
    import checks; checks.question(1)    # under the answer to question 1 of the quiz

A check looks at what your answer cell left behind and either prints "... looks right" or stops
with a message (``CheckFailed``) that names the common mistake it sees and what to try. In Jupyter
the message is all the check shows, without a traceback through this file.

What the checks never do: change the state of Python's ``random`` generator (the step 2 check only
reads it, the step 3 check draws from a private generator of its own, and the step 4 check puts the
state back after re-running your cell), or decide a grade. Your grade comes from hidden checks that
re-run your answer cells outside your notebook; for the quiz, only the grader knows the answers.
"""
import ast
import contextlib
import io
import random
import sys
import textwrap

__all__ = ["CheckFailed", "question", "step"]

SEED = 42          # the seed the task asks for (step 2)
COUNT = 5          # range(5): five scores (step 3)
LOW, HIGH = 80, 100  # random.randint(80, 100) (step 3)
SEARCHED = 1000    # a wrong seed from 0 to SEARCHED is named in the message
LETTERS = ("A", "B", "C", "D")
MODULE = "checks"  # the name the check cells import this module by
WIDTH = 80         # a failed check's message is shown in lines of at most this many characters


class CheckFailed(AssertionError):
    """A check found a mistake; the message says which and what to try."""


def step(number):
    """Check the answer to step ``number`` (1 to 4) of reproducibility.ipynb."""
    __tracebackhide__ = True
    checks = {1: _step1, 2: _step2, 3: _step3, 4: _step4}
    if number not in checks:
        raise ValueError(f"There are steps 1 to 4; got {number!r}.")
    _run(checks[number], sys._getframe(1).f_globals)


def question(number):
    """Check that the answer to quiz question ``number`` is one of the letters A to D (it never
    says whether the answer is right)."""
    __tracebackhide__ = True
    if not (isinstance(number, int) and 1 <= number <= 10):
        raise ValueError(f"There are questions 1 to 10; got {number!r}.")
    _run(lambda ns: _question(number, ns), sys._getframe(1).f_globals)


# ------------------------------------------------------------------------------- the steps

def _step1(ns):
    if "accuracy_scores" not in ns:
        _fail("There is no variable called accuracy_scores yet. Check the spelling and run your "
              "step 1 cell.")
    scores = ns["accuracy_scores"]
    if type(scores) is not list:
        _fail(f"accuracy_scores is a {type(scores).__name__}, not a list. Common mistake: using () "
              "(a tuple) or {} (a dict); use [] for a list.")
    if scores != []:
        _fail(f"accuracy_scores should start empty, but it holds {len(scores)} item(s). The scores "
              "are added in step 3; if you already ran step 3, run step 1 again first.")
    print("Step 1 looks right: accuracy_scores is an empty list.")


def _step2(ns):
    if ns.get("random") is not random:
        _fail("The random module is not imported under the name random. Write: import random")
    state = random.getstate()  # reads the state; nothing is drawn
    if state != random.Random(SEED).getstate():
        seed = next((s for s in range(SEARCHED + 1) if random.Random(s).getstate() == state), None)
        if seed is not None:
            _fail(f"random is seeded with {seed}, but this task uses {SEED}. Any fixed seed makes a "
                  "run repeatable, yet everyone must use the same seed to get the same numbers: "
                  f"random.seed({SEED})")
        _fail(f"random is not in the state random.seed({SEED}) leaves it in. Common mistakes: "
              f"importing random but never calling random.seed({SEED}), or drawing numbers after "
              "seeding (run the step 2 cell again, then this check).")
    print(f"Step 2 looks right: random is seeded with {SEED}.")


def _scores(seed):
    """The scores the task's loop draws after random.seed(seed), from a private generator."""
    generator = random.Random(seed)
    return [generator.randint(LOW, HIGH) for _ in range(COUNT)]


def _step3(ns):
    scores = ns.get("accuracy_scores")
    if type(scores) is not list:
        _fail("accuracy_scores is missing or not a list; run your step 1 cell, then steps 2 and 3.")
    if len(scores) != COUNT:
        _fail(f"Expected {COUNT} scores, found {len(scores)}. range({COUNT}) runs the loop {COUNT} "
              f"times; common mistakes are range({COUNT + 1}) or running this cell twice without "
              "re-running steps 1 and 2.")
    bad = [s for s in scores if type(s) is not int or not LOW <= s <= HIGH]
    if bad:
        _fail(f"These scores are not whole numbers from {LOW} to {HIGH}: {bad}. Common mistake: "
              f"random.randint(0, {HIGH}) or random.random(); use random.randint({LOW}, {HIGH}).")
    if scores != _scores(SEED):
        seed = next((s for s in range(SEARCHED + 1) if _scores(s) == scores), None)
        if seed is not None:
            _fail(f"These are the scores seed {seed} produces, not seed {SEED}. Set "
                  f"random.seed({SEED}) in step 2.")
        _fail(f"These scores are not the ones seed {SEED} produces. Common mistakes: forgetting "
              f"random.seed({SEED}), typing numbers in by hand, or drawing extra numbers before the "
              "loop. Run steps 1-3 again in order.")
    print("Step 3 looks right: five scores, drawn from the seeded generator.")


def _step4(ns):
    source = _cell_before_this_check()
    if source is None:
        _fail("Run your step 4 cell first, then this check: it re-runs the last cell you ran "
              "before it and looks at what that cell prints.")
    namespace = dict(ns)  # the cell runs on a copy: it cannot add to or rebind your variables
    if type(ns.get("accuracy_scores")) is list:
        namespace["accuracy_scores"] = list(ns["accuracy_scores"])
    buffer, state = io.StringIO(), random.getstate()
    error = None
    try:
        with _captured(buffer):
            exec(source, namespace)
    except (Exception, SystemExit) as raised:
        error = raised
    finally:
        random.setstate(state)  # whatever the cell drew, the generator is as it was
    if isinstance(error, NotImplementedError):
        _fail("Step 4 is not answered yet: replace raise NotImplementedError() with your code, run "
              "the cell, then this check.")
    if isinstance(error, SystemExit):
        _fail("Your step 4 cell calls exit(); an answer cell must run to its end.")
    if error is not None:
        _fail(f"Your step 4 cell raised {type(error).__name__}: {error}")
    if "accuracy_scores" not in ns:
        _fail("There is no variable called accuracy_scores yet: run steps 1 to 3, then step 4.")
    printed = buffer.getvalue().strip()
    if not printed and _ends_with_a_bare_name(source):
        _fail("Your step 4 cell does not print the list: Jupyter only displays the value of the "
              "bare name on the cell's last line (the Out[...] line). Your answer is graded by "
              "running the cell as plain Python, where that line shows nothing. Use "
              "print(accuracy_scores).")
    if not printed:
        _fail("Your step 4 cell prints nothing; use print(accuracy_scores). (This check re-runs the "
              "last cell you ran before it: run your step 4 cell, then this check.)")
    if printed != str(ns["accuracy_scores"]):
        _fail(f"Your step 4 cell printed {printed[:200]!r}, not the list itself. Use "
              "print(accuracy_scores).")
    print("Step 4 looks right: the scores are printed.")


def _cell_before_this_check():
    """The source of the last cell run before the running check that is not a check itself (the
    step 4 answer cell, when the cells are run in order), or None. Checks are skipped, so running
    a check again, or twice, looks at the same answer cell."""
    try:  # the cells run so far, as Python (what `In` shows)
        history = get_ipython().history_manager.input_hist_parsed  # noqa: F821 - IPython only
    except (NameError, AttributeError):
        return None
    for source in reversed(history[:-1]):  # history[-1] is the running check's own cell
        if source.strip() and not _is_a_check(source):
            return source
    return None


def _is_a_check(source):
    """Whether a cell does nothing but import this module and call it."""
    try:
        statements = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(statements) and all(
        isinstance(s, ast.Import) and [(a.name, a.asname) for a in s.names] == [(MODULE, None)]
        or isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
        and isinstance(s.value.func, ast.Attribute) and isinstance(s.value.func.value, ast.Name)
        and s.value.func.value.id == MODULE
        for s in statements)


def _ends_with_a_bare_name(source):
    """Whether the cell's last line is a bare name that Jupyter shows as the cell's result (no
    ``;`` after it)."""
    try:
        statements = ast.parse(source).body
    except SyntaxError:
        return False
    return (bool(statements) and isinstance(statements[-1], ast.Expr)
            and isinstance(statements[-1].value, ast.Name) and not source.rstrip().endswith(";"))


@contextlib.contextmanager
def _captured(buffer):
    """What the re-run cell prints goes to ``buffer``; in Jupyter, what it displays or writes to
    stderr is dropped, so the check's own output stays one line."""
    try:
        from IPython.utils.capture import capture_output
    except ImportError:  # plain Python without IPython: stdout only
        capture_output = None
    if capture_output is None:
        with contextlib.redirect_stdout(buffer):
            yield
    else:
        with capture_output() as captured:
            yield
        buffer.write(captured.stdout)


# ------------------------------------------------------------------------------- the quiz

def _question(number, ns):
    name = f"q{number:02d}"
    if name not in ns:
        _fail(f"Question {number} is not answered yet: in the cell above, assign your letter to "
              f"{name} as a string (the letter in quotes), then run that cell.")
    answer = ns[name]
    if not isinstance(answer, str):
        _fail(f"{name} holds a {type(answer).__name__}; put the letter in quotes so that it is a "
              "string.")
    if not answer.strip():
        _fail(f"{name} is empty: put your letter between the quotes.")
    if answer.strip().upper() not in LETTERS:
        _fail(f"{name} is {answer!r}, which is not one of the letters A, B, C, D (upper or lower "
              "case).")
    print(f"Question {number}: your answer {answer.strip().upper()} is one of the options; it is "
          "graded when you submit.")


# ------------------------------------------------------------------------------- plumbing

_running = False


def _run(check, ns):
    """Run one check; a check never runs inside another (a check called from the cell that the
    step 4 check re-runs fails at once instead of recursing)."""
    __tracebackhide__ = True
    global _running
    if _running:
        _fail("A check cannot run inside an answer cell; remove the checks call from your cell.")
    _running = True
    try:
        check(ns)
    finally:
        _running = False


def _fail(message):
    __tracebackhide__ = True
    raise CheckFailed(message)


def _show_message_only(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for CheckFailed: the message, without a traceback through this file, in
    lines short enough for the Validate dialog (which does not wrap them)."""
    lines = textwrap.wrap(f"{etype.__name__}: {value}", WIDTH, break_long_words=False,
                          break_on_hyphens=False) or [etype.__name__]
    lines[0] = lines[0].replace(etype.__name__, f"\x1b[0;31m{etype.__name__}\x1b[0m", 1)  # in red
    shell._showtraceback(etype, value, ["\n".join(lines)])


def _install():
    """In IPython/Jupyter, show a CheckFailed as its message only (unless the notebook already
    handles some exceptions itself)."""
    try:
        shell = get_ipython()  # noqa: F821 - defined in IPython and Jupyter only
    except NameError:
        return
    handled = getattr(shell, "custom_exceptions", ())
    if all(getattr(e, "__name__", None) == "CheckFailed" for e in handled):
        shell.set_custom_exc((CheckFailed,), _show_message_only)


_install()
