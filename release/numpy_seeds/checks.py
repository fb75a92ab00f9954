"""The check cells of numpy_seeds.ipynb and quiz.ipynb (they teach; they do not grade).

Keep this file next to the notebooks: each check cell is one line that calls it, for example::

    import checks; checks.step(2)        # under the step 2 answer cell
    import checks; checks.question(1)    # under the answer to question 1 of the quiz

A check looks at what your answer cell left behind and either prints "... looks right" or stops
with a message (``CheckFailed``) that names the common mistake it sees and what to try. In Jupyter
the message is all the check shows, without a traceback through this file.

What the checks never do: draw from your generator ``rng`` or change its state. They only read
``rng.bit_generator.state`` and compare it with generators of their own, made inside the check
(``np.random.default_rng(42)`` and the like). The step 4 check re-runs your step 4 cell on copies
(a copy of ``rng`` included) and puts NumPy's legacy global state and Python's ``random`` back as
they were. Nor do they decide a grade: hidden checks re-run your answer cells outside your notebook,
under seed 42 and under secret seeds; for the quiz, only the grader knows the answers.
"""
import ast
import contextlib
import io
import random
import sys
import textwrap

import numpy

__all__ = ["CheckFailed", "question", "step"]

SEED = 42              # np.random.default_rng(42) (step 1)
LOW, HIGH = 80, 101    # rng.integers(80, 101, size=5): scores from 80 to 100 (step 2)
COUNT = 5
SIZE, TEST_SIZE = 10, 3  # rng.permutation(10); order[:3] is the test set (step 3)
SEARCHED = 1000        # a wrong seed from 0 to SEARCHED is named in the message
QUESTIONS = 5
LETTERS = ("A", "B", "C", "D")
MODULE = "checks"      # the name the check cells import this module by
WIDTH = 80             # a failed check's message is shown in lines of at most this many characters
# NumPy's legacy functions: they all share one hidden global state (np.random.seed seeds it).
LEGACY = {"seed", "randint", "rand", "randn", "random", "random_sample", "random_integers",
          "permutation", "shuffle", "choice", "sample", "ranf", "RandomState", "get_state",
          "set_state", "uniform", "normal"}


class CheckFailed(AssertionError):
    """A check found a mistake; the message says which and what to try."""


def step(number):
    """Check the answer to step ``number`` (1 to 4) of numpy_seeds.ipynb."""
    __tracebackhide__ = True
    checks = {1: _step1, 2: _step2, 3: _step3, 4: _step4}
    if number not in checks:
        raise ValueError(f"There are steps 1 to 4; got {number!r}.")
    if _raises_not_implemented(_cell_before_this_check()):
        _fail(f"Step {number} is not answered yet: replace raise NotImplementedError() with your "
              "code, run the cell, then this check.")
    _run(checks[number], sys._getframe(1).f_globals)


def question(number):
    """Check that the answer to quiz question ``number`` is one of the letters A to D (it never
    says whether the answer is right)."""
    __tracebackhide__ = True
    if not (isinstance(number, int) and 1 <= number <= QUESTIONS):
        raise ValueError(f"There are questions 1 to {QUESTIONS}; got {number!r}.")
    _run(lambda ns: _question(number, ns), sys._getframe(1).f_globals)


# ------------------------------------------------------------------------------- private generators
# Everything the steps should produce is computed here, from generators the check makes itself.

def _start(seed):
    """The state np.random.default_rng(seed) starts in."""
    return numpy.random.default_rng(seed).bit_generator.state


def _after_step2(seed, low=LOW, high=HIGH, size=COUNT):
    """(scores, state) of a private default_rng(seed) after step 2's draw."""
    generator = numpy.random.default_rng(seed)
    scores = generator.integers(low, high, size=size)
    return scores, generator.bit_generator.state


def _after_step3(seed):
    """(order, state) of a private default_rng(seed) after steps 2 and 3."""
    generator = numpy.random.default_rng(seed)
    generator.integers(LOW, HIGH, size=COUNT)
    order = generator.permutation(SIZE)
    return order, generator.bit_generator.state


def _state(rng):
    """The student's generator's state: read, never drawn from (the property returns a copy)."""
    return rng.bit_generator.state


def _same(a, b):
    return numpy.array_equal(numpy.asarray(a), numpy.asarray(b))


def _legacy_seeded():
    """Whether NumPy's legacy global state is where np.random.seed(SEED) puts it (read only)."""
    mine, fresh = numpy.random.get_state(), numpy.random.RandomState(SEED).get_state()
    return mine[0] == fresh[0] and _same(mine[1], fresh[1]) and mine[2:] == fresh[2:]


# ------------------------------------------------------------------------------- the steps

_LEGACY_ADVICE = (
    "np.random.seed and np.random.randint/permutation/... are NumPy's legacy API: they share one "
    "hidden global state that any other code (a library, another cell) can draw from. Make a "
    f"generator of your own and draw from it: rng = np.random.default_rng({SEED}).")


def _the_generator(ns, number):
    """The student's rng, if it is a numpy Generator; otherwise a message that names why not."""
    rng = ns.get("rng")
    if isinstance(rng, numpy.random.Generator):
        return rng
    legacy = _uses_legacy(_cell_before_this_check()) or _legacy_seeded()
    if rng is None and "rng" not in ns:
        if legacy:
            _fail(f"There is no variable called rng, and NumPy's legacy global state is in use. "
                  f"{_LEGACY_ADVICE}")
        where = "Check the spelling and run your step 1 cell." if number == 1 else \
            "Run your step 1 cell first, then the steps up to this one in order."
        _fail(f"There is no variable called rng yet. {where}")
    if isinstance(rng, numpy.random.RandomState) or rng is numpy.random:
        _fail(f"rng is NumPy's legacy random state, not a Generator. {_LEGACY_ADVICE}")
    if rng is None:
        _fail(f"rng is None. Common mistake: rng = np.random.seed({SEED}), but np.random.seed "
              f"seeds the legacy global state and returns nothing. {_LEGACY_ADVICE}")
    _fail(f"rng is a {type(rng).__name__}, not a numpy Generator. Write: "
          f"rng = np.random.default_rng({SEED})" + (" in step 1." if number != 1 else ""))


def _step1(ns):
    rng = _the_generator(ns, 1)
    state = _state(rng)
    if state == _start(SEED):
        note = "" if ns.get("np") is numpy else (
            " (NumPy is not imported as np here; the task writes import numpy as np, and code you "
            "copy from elsewhere will expect np.)")
        print(f"Step 1 looks right: rng is np.random.default_rng({SEED}), nothing drawn yet.{note}")
        return
    if state.get("bit_generator") != "PCG64":
        _fail(f"rng runs on the {state.get('bit_generator')} bit generator; "
              f"np.random.default_rng({SEED}) makes a PCG64 one. Write: "
              f"rng = np.random.default_rng({SEED})")
    seed = _seed_that_starts_in(state)
    if seed is not None:
        _fail(f"rng is seeded with {seed}: it starts where np.random.default_rng({seed}) starts, "
              f"but this task uses seed {SEED}. Any fixed seed makes a run repeatable, yet everyone must use the "
              f"same seed to get the same numbers: rng = np.random.default_rng({SEED})")
    if state in (_after_step2(SEED)[1], _after_step3(SEED)[1]):
        _fail(f"rng is np.random.default_rng({SEED}), but numbers were already drawn from it "
              "(steps 2 and 3 move it on). Run your step 1 cell again, then this check.")
    _fail(f"rng is not in the state np.random.default_rng({SEED}) starts in. Common mistake: "
          "np.random.default_rng() without a seed, which takes fresh entropy from the operating "
          "system, so every run draws different numbers and nobody can repeat them. Give it the "
          f"seed: rng = np.random.default_rng({SEED}). (If you did, numbers were already drawn "
          "from it: draw nothing in step 1, and run step 1 again.)")


def _seed_that_starts_in(state):
    return next((s for s in range(SEARCHED + 1) if _start(s) == state), None)


def _step2(ns):
    rng = _the_generator(ns, 2)
    source = _cell_before_this_check()
    if "scores" not in ns:
        _fail("There is no variable called scores yet. Check the spelling and run your step 2 "
              "cell.")
    scores = ns["scores"]
    if isinstance(scores, (list, tuple)):
        _fail(f"scores is a Python {type(scores).__name__}, not a numpy array. rng.integers(...) "
              "already returns an array: keep it as it is (no list(...) or .tolist()).")
    if not isinstance(scores, numpy.ndarray):
        _fail(f"scores is a {type(scores).__name__}, not a numpy array. Write: "
              f"scores = rng.integers({LOW}, {HIGH}, size={COUNT})")
    if not numpy.issubdtype(scores.dtype, numpy.integer):
        _fail(f"scores holds {scores.dtype} values, not whole numbers. Common mistake: rng.random() "
              f"or rng.uniform(...); use rng.integers({LOW}, {HIGH}, size={COUNT}).")
    if scores.shape != (COUNT,):
        _fail(f"scores has shape {scores.shape}; the task asks for {COUNT} scores in a flat array: "
              f"size={COUNT}, as in rng.integers({LOW}, {HIGH}, size={COUNT}).")
    bad = [int(s) for s in scores if not LOW <= s < HIGH]
    if bad:
        _fail(f"These scores are not from {LOW} to {HIGH - 1}: {bad}. Use "
              f"rng.integers({LOW}, {HIGH}, size={COUNT}): the high end is exclusive, so {HIGH} "
              f"gives scores up to {HIGH - 1}.")
    expected, after = _after_step2(SEED)
    state = _state(rng)
    if _same(scores, expected) and state == after:
        print(f"Step 2 looks right: {COUNT} scores from {LOW} to {HIGH - 1}, drawn from rng.")
        return
    if _same(scores, _after_step2(SEED, high=HIGH - 1)[0]):
        _fail(f"These scores come from rng.integers({LOW}, {HIGH - 1}, size={COUNT}). The high end "
              f"of integers is exclusive, so {HIGH - 1} never comes: the scores run from {LOW} to "
              f"{HIGH - 2}. To include {HIGH - 1}, write rng.integers({LOW}, {HIGH}, size={COUNT}).")
    if state == _start(SEED):  # rng has not moved: scores did not come from it
        if _uses_legacy(source):
            _fail(f"rng has not moved: scores came from the legacy np.random functions, not from "
                  f"your generator. {_LEGACY_ADVICE} Then: scores = rng.integers({LOW}, {HIGH}, "
                  f"size={COUNT})")
        if _same(scores, expected) and _makes_a_generator(source):
            _fail("The scores are right, but rng has not moved: they come from a fresh generator "
                  "made in this cell (np.random.default_rng(...) again). A new generator for each "
                  "draw restarts the sequence every time, so later draws repeat earlier ones. Draw "
                  f"from the rng of step 1: scores = rng.integers({LOW}, {HIGH}, size={COUNT})")
        if _same(scores, expected):
            _fail("The scores are right, but rng has not moved: they were not drawn from it. "
                  "Numbers hard-coded (typed in by hand) are right only for this one seed, and a "
                  "fresh generator made for each draw restarts the sequence. Draw from the rng of "
                  f"step 1: scores = rng.integers({LOW}, {HIGH}, size={COUNT})")
        _fail("rng has not moved, so scores were not drawn from it. Common mistakes: the legacy "
              "np.random.randint (NumPy's global state, not your generator), a fresh generator, or "
              f"numbers typed in by hand. Write: scores = rng.integers({LOW}, {HIGH}, size={COUNT})")
    generator = numpy.random.default_rng(SEED)
    generator.integers(LOW, HIGH, size=COUNT)
    if _same(scores, generator.integers(LOW, HIGH, size=COUNT)):
        _fail(f"These are the second five scores of seed {SEED}: step 2 ran twice without step 1 "
              "in between (the generator carries on where it stopped). Run steps 1 and 2 again, in "
              "order.")
    seed = next((s for s in range(SEARCHED + 1) if _same(_after_step2(s)[0], scores)), None)
    if seed is not None and seed != SEED:
        _fail(f"These are the scores seed {seed} gives, not seed {SEED}: rng is seeded with "
              f"{seed}, np.random.default_rng({seed}). Fix step 1: rng = np.random.default_rng({SEED})")
    _fail(f"These scores are not the ones np.random.default_rng({SEED}) gives. Common mistakes: "
          "np.random.default_rng() without a seed in step 1 (new numbers on every run), the legacy "
          "np.random.randint, numbers typed in by hand, or drawing from rng before step 2. Run "
          "steps 1 and 2 again in order.")


def _step3(ns):
    rng = _the_generator(ns, 3)
    source = _cell_before_this_check()
    for name in ("order", "test_idx", "train_idx"):
        if name not in ns:
            _fail(f"There is no variable called {name} yet. Check the spelling and run your step "
                  "3 cell.")
    for name in ("order", "test_idx", "train_idx"):
        value = ns[name]
        if isinstance(value, (list, tuple)):
            _fail(f"{name} is a Python {type(value).__name__}, not a numpy array. "
                  f"rng.permutation({SIZE}) returns an array, and its slices order[:{TEST_SIZE}] "
                  f"and order[{TEST_SIZE}:] are arrays too: keep them (no list(...)), so the "
                  "indices can pick rows out of a data array.")
        if not isinstance(value, numpy.ndarray):
            _fail(f"{name} is a {type(value).__name__}, not a numpy array of indices.")
        if value.ndim != 1 or not numpy.issubdtype(value.dtype, numpy.integer):
            _fail(f"{name} should be a flat array of whole numbers (indices), but it has shape "
                  f"{value.shape} and holds {value.dtype} values.")
    order, test, train = ns["order"], ns["test_idx"], ns["train_idx"]
    if len(numpy.unique(order)) != len(order):
        _fail(f"order repeats an index ({sorted(set(int(i) for i in order if (order == i).sum() > 1))}"
              "). Common mistake: rng.choice draws with replacement unless told otherwise, so an "
              f"index can come twice and another never. rng.permutation({SIZE}) gives each of 0 to "
              f"{SIZE - 1} exactly once.")
    if len(order) != SIZE or not _same(numpy.sort(order), numpy.arange(SIZE)):
        _fail(f"order should hold each index 0 to {SIZE - 1} once, in a shuffled order; it holds "
              f"{order.tolist()[:20]}. Write: order = rng.permutation({SIZE})")
    overlap = numpy.intersect1d(test, train)
    if overlap.size:
        _fail(f"test_idx and train_idx overlap: these indices are in both, {overlap.tolist()}. "
              "A test example "
              "the model also trained on makes the test score look better than it is. Split at one "
              f"place: test_idx = order[:{TEST_SIZE}] and train_idx = order[{TEST_SIZE}:].")
    missing = numpy.setdiff1d(numpy.arange(SIZE), numpy.concatenate([test, train]))
    if missing.size:
        _fail(f"test_idx and train_idx together do not cover 0 to {SIZE - 1}: these indices are "
              f"in neither, {missing.tolist()}, so those examples are wasted. Split at one place: "
              f"test_idx = order[:{TEST_SIZE}] and train_idx = order[{TEST_SIZE}:].")
    if len(test) != TEST_SIZE:
        _fail(f"test_idx holds {len(test)} indices; the test set has {TEST_SIZE}: "
              f"test_idx = order[:{TEST_SIZE}] and train_idx = order[{TEST_SIZE}:].")
    if not (_same(test, order[:TEST_SIZE]) and _same(train, order[TEST_SIZE:])):
        _fail(f"test_idx and train_idx should be the first {TEST_SIZE} indices of order and the "
              f"rest, in the same order: test_idx = order[:{TEST_SIZE}], "
              f"train_idx = order[{TEST_SIZE}:].")
    expected, after = _after_step3(SEED)
    before, state = _after_step2(SEED)[1], _state(rng)
    if _same(order, expected) and state == after:
        print(f"Step 3 looks right: a shuffled order of 0-{SIZE - 1} from rng, {TEST_SIZE} test and "
              f"{SIZE - TEST_SIZE} training indices that neither overlap nor leave one out.")
        return
    if state == before:  # rng has not moved since step 2: order did not come from it
        if _uses_legacy(source):
            _fail(f"rng has not moved: order came from the legacy np.random functions, not from "
                  f"your generator. {_LEGACY_ADVICE} Then: order = rng.permutation({SIZE})")
        if _same(order, numpy.random.default_rng(SEED).permutation(SIZE)) or \
                _makes_a_generator(source):
            _fail("rng has not moved: order comes from a fresh generator made in this cell "
                  "(np.random.default_rng(...) again). A new generator for each draw restarts the "
                  "sequence, so the shuffle no longer follows on from the scores. Draw from the rng "
                  f"of step 1: order = rng.permutation({SIZE})")
        if _same(order, expected):
            _fail("order is right, but rng has not moved: it was not drawn from rng. A split "
                  "hard-coded (typed in by hand) is right only for this one seed. Write: "
                  f"order = rng.permutation({SIZE})")
        _fail(f"rng has not moved, so order was not drawn from it. Write: order = "
              f"rng.permutation({SIZE})")
    if state != after:
        _fail(f"rng is not where steps 1 to 3 leave np.random.default_rng({SEED}): fix steps 1 and 2 "
              "if their checks fail, then run steps 1 to 3 again, in order, once each (a cell run "
              "twice draws twice).")
    _fail(f"order is not the shuffle rng.permutation({SIZE}) gives after steps 1 and 2. Write: "
          f"order = rng.permutation({SIZE})")


def _step4(ns):
    source = _cell_before_this_check()
    if source is None:
        _fail("Run your step 4 cell first, then this check: it re-runs the last cell you ran "
              "before it and looks at what that cell prints.")
    if "test_idx" not in ns:
        _fail("There is no variable called test_idx yet: run steps 1 to 3, then step 4.")
    buffer = io.StringIO()
    error = _rerun(source, ns, buffer)
    if isinstance(error, NotImplementedError):
        _fail("Step 4 is not answered yet: replace raise NotImplementedError() with your code, run "
              "the cell, then this check.")
    if isinstance(error, SystemExit):
        _fail("Your step 4 cell calls exit(); an answer cell must run to its end.")
    if error is not None:
        _fail(f"Your step 4 cell raised {type(error).__name__}: {error}")
    printed = buffer.getvalue().strip()
    if not printed and _ends_with_a_bare_name(source):
        _fail("Your step 4 cell does not print test_idx: Jupyter only displays the value of the "
              "bare name on the cell's last line (the Out[...] line). Your answer is graded by "
              "running the cell as plain Python, where that line shows nothing. Use "
              "print(test_idx).")
    if not printed:
        _fail("Your step 4 cell prints nothing; use print(test_idx). (This check re-runs the last "
              "cell you ran before it: run your step 4 cell, then this check.)")
    if printed != str(ns["test_idx"]):
        train = ns.get("train_idx")
        which = " (that is train_idx, the training set)" if isinstance(train, numpy.ndarray) \
            and printed == str(train) else ""
        _fail(f"Your step 4 cell printed {printed[:200]!r}{which}, not the test indices. Use "
              "print(test_idx).")
    print("Step 4 looks right: the test indices are printed.")


def _rerun(source, ns, buffer):
    """Run ``source`` on copies of the student's values; return the exception it raised, if any.

    Every numpy Generator is replaced by a private twin in the same state, arrays and lists by
    copies, and NumPy's legacy global state and Python's random state are put back afterwards:
    whatever the cell draws or changes, the student's notebook is as it was.
    """
    namespace = dict(ns)
    for name, value in ns.items():
        if isinstance(value, numpy.random.Generator):
            namespace[name] = _twin(value)
        elif isinstance(value, (numpy.ndarray, list, dict, set)):
            namespace[name] = value.copy()
    legacy, python = numpy.random.get_state(), random.getstate()
    try:
        with _captured(buffer):
            exec(source, namespace)
    except (Exception, SystemExit) as raised:
        return raised
    finally:
        numpy.random.set_state(legacy)
        random.setstate(python)
    return None


def _twin(rng):
    """A new Generator in the state ``rng`` is in (``rng`` is only read)."""
    twin = numpy.random.Generator(type(rng.bit_generator)())
    twin.bit_generator.state = _state(rng)
    return twin


# ------------------------------------------------------------------------------- reading a cell

def _cell_before_this_check():
    """The source of the last cell run before the running check that is not a check itself (the
    answer cell above it, when the cells are run in order), or None outside IPython."""
    try:  # the cells run so far, as Python (what `In` shows)
        history = get_ipython().history_manager.input_hist_parsed  # noqa: F821 - IPython only
    except (NameError, AttributeError):
        return None
    for source in reversed(history[:-1]):  # history[-1] is the running check's own cell
        if source.strip() and not _is_a_check(source):
            return source
    return None


def _calls(source):
    """The dotted names called in ``source`` (``np.random.seed(42)`` gives "np.random.seed")."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                found.append(".".join([func.id] + parts[::-1]))
    return found


def _raises_not_implemented(source):
    """Whether ``source`` is still the placeholder: a top-level raise NotImplementedError."""
    try:
        statements = ast.parse(source or "").body
    except SyntaxError:
        return False
    return any(isinstance(s, ast.Raise) and s.exc is not None and "NotImplementedError" in
               ast.unparse(s.exc) for s in statements)


def _uses_legacy(source):
    """Whether ``source`` calls one of NumPy's legacy global-state functions."""
    return any(len(parts) == 3 and parts[0] in ("np", "numpy") and parts[1] == "random"
               and parts[2] in LEGACY for parts in (c.split(".") for c in _calls(source)))


def _makes_a_generator(source):
    """Whether ``source`` makes a new Generator (default_rng or Generator(...))."""
    return any(c.split(".")[-1] in ("default_rng", "Generator") for c in _calls(source))


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
