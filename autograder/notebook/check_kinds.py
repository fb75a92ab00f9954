"""The check kinds: how a step's outcome is judged, one small function per kind.

The contract (docs/assignments.md, "Check kinds"): a step's declaration names a kind and its
parameters, ``{"kind": "numpy-draws", "name": "scores", ...}``; the grader re-runs the step and
calls ``KINDS[kind].check(got, context, **parameters)``, where ``got`` is the run's outcome
(:func:`autograder.notebook.steps.outcome`: error, printed text, the reported names as plain
data, the ``random`` generator's fingerprint) and ``context`` holds the reference's outcome under
the same seed (``want``) and the task seed (``task``), the reference state the step started from
(``before``: the ``random`` fingerprint; ``before_names``: its names), whether this run is under
the task seed (``detail``: only then may a message quote values) and the task seed. The check
returns None when the step is right, else one message for the student that names the mistake it
looks like and what to write instead. Checks only read data: the Python ``random`` module and a
numpy ``Generator`` are both carried as data (a state fingerprint, a Generator's state).
"""
import hashlib
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable


def state_hash(words) -> str:
    """A fingerprint of a ``random`` generator state (its 625 words, ints): the sha256 of their
    compact JSON list. A submission's checks ask for the same few states hundreds of times."""
    return _state_hash(tuple(words))


@lru_cache(maxsize=256)
def _state_hash(words: tuple) -> str:
    return hashlib.sha256(("[%s]" % ",".join(map(str, words))).encode("ascii")).hexdigest()


def _type_name(value, detail):
    if value[0] != "other":
        return value[0]
    return value[1] if detail else "another type"


def empty_list(got, c, name):
    value = got["names"].get(name)
    if value == c["want"]["names"].get(name):
        return None
    if value is None:
        return "there is no variable called %s (check the spelling)." % name
    if value[0] != "list":
        return "%s is a %s; make it a list with []." % (name, _type_name(value, c["detail"]))
    if c["detail"]:
        return "%s should start empty, but it holds %d item(s)." % (name, len(value[1]))
    return "%s should start empty." % name


@lru_cache(maxsize=None)
def seeded_states(up_to: int = 1000) -> dict:
    """Fingerprint of the state ``random.seed(n)`` leaves, for n in 0..up_to."""
    return {state_hash(random.Random(n).getstate()[1]): n for n in range(up_to + 1)}


def seeded_generator(got, c, module, seed):
    call = "%s.seed(%d)" % (module, seed)
    if got["names"].get(module) != c["want"]["names"].get(module):
        return "the %s module is not imported under the name %s; write `import %s`." % (module, module, module)
    if got["generator"] == c["want"]["generator"]:
        return None
    if got["generator"] == c["before"]:
        return ("the generator is left as it was: %s is missing, so every run would give "
                "different numbers." % call)
    other = seeded_states().get(got["generator"]) if c["detail"] else None
    if other is not None:
        return "the generator is seeded with %d; the task uses %s." % (other, call)
    return ("the generator is not in the state %s leaves it in: seed with %d and draw no numbers "
            "in this step." % (call, seed))


def scores(got, c, name, count, low, high):
    value, want = got["names"].get(name), c["want"]["names"].get(name)
    if value == want:
        return None
    detail = c["detail"]
    draw = "random.randint(%d, %d)" % (low, high)
    if value is None:
        return "%s no longer exists after your cell." % name
    if value[0] != "list":
        return "%s is a %s, not a plain list." % (name, _type_name(value, detail))
    items = value[1]
    if len(items) != count:
        held = ("holds %d scores, not %d" % (len(items), count) if detail
                else "does not always hold %d scores" % count)
        return ("%s %s. range(%d) runs the loop %d times; common mistake: range(%d) or an extra "
                "append." % (name, held, count, count, count + 1))
    if not all(v[0] == "int" and low <= v[1] <= high for v in items):
        shown = "the scores %s are" % [v[1] if v[0] == "int" else _type_name(v, True) for v in items] \
            if detail else "the scores are"
        return ("%s not all whole numbers from %d to %d; common mistake: random.randint(0, %d) "
                "instead of %s." % (shown, low, high, high, draw))
    if not detail and value == c["task"]["names"].get(name):
        return ("your code gives the seed-%d numbers even when the generator is seeded "
                "differently: numbers typed in, a second random.seed(%d), or a replaced randint. "
                "Draw each score with %s from the seeded generator."
                % (c["task_seed"], c["task_seed"], draw))
    return ("your scores do not follow the seeded generator: draw exactly one %s per pass of "
            "the loop, and nothing else." % draw)


def printed(got, c, name):
    printed = got["stdout"]
    if printed == c["want"]["stdout"]:
        return None
    if not printed.strip():
        return ("your cell prints nothing. A bare name shows a value only as the last line "
                "of a cell in Jupyter; use print(%s)." % name)
    if not c["detail"] and printed == c["task"]["stdout"]:
        return ("your cell prints the same text whatever the numbers drawn are; print the value "
                "itself: print(%s)." % name)
    if c["detail"]:
        return "your cell printed %r; print the value itself: print(%s)." % (printed[:200], name)
    return ("your cell prints something else when the generator is seeded differently; print "
            "the value itself: print(%s)." % name)


# ---------------------------------------------------------------- numpy Generators

def _described(value) -> str:
    """What a value description is, in words."""
    if value[0] == "other":
        return "a " + value[1]
    return {"ndarray": "a numpy array", "generator": "a numpy Generator", "list": "a list",
            "tuple": "a tuple", "npscalar": "a numpy number", "none": "None"}.get(value[0], "a " + value[0])


def _flat(value) -> list:
    """The items of a described array, list or tuple as Python values (None for anything else)."""
    items = value[1][2] if value[0] == "ndarray" else value[1] if value[0] in ("list", "tuple") else None
    if items is None:
        return None
    return [v[1][1][1] if v[0] == "npscalar" else v[1] if v[0] in ("int", "bool") else None for v in items]


@lru_cache(maxsize=None)
def _default_rng_states(up_to: int = 1000) -> dict:
    """``default_rng(n)``'s state (as the harness describes it) -> n, for n in 0..up_to."""
    import numpy
    return {json.dumps(numpy.random.default_rng(n).bit_generator.state, sort_keys=True): n
            for n in range(up_to + 1)}


def _generator(state_text: str):
    import numpy
    state = json.loads(state_text)
    generator = numpy.random.Generator(getattr(numpy.random, state["bit_generator"])())
    generator.bit_generator.state = state
    return generator


def numpy_generator(got, c, name, seed):
    value = got["names"].get(name)
    if value == c["want"]["names"].get(name):
        return None
    call = "%s = np.random.default_rng(%d)" % (name, seed)
    if value is None:
        return ("there is no variable called %s. Common mistake: np.random.seed(%d) seeds numpy's "
                "legacy global generator, which is not a Generator; write %s." % (name, seed, call))
    if value == ["other", "RandomState"]:
        return ("%s is a RandomState, numpy's legacy generator (the one np.random.seed seeds); "
                "this task wants a Generator: write %s." % (name, call))
    if value[0] != "generator":
        return "%s is %s, not a numpy Generator; write %s." % (name, _described(value), call)
    other = _default_rng_states().get(value[1]) if c["detail"] else None
    if other is not None:
        return "%s is seeded with %d; the task uses %s." % (name, other, call)
    return ("%s is not in the state %s leaves it in. Common mistakes: default_rng() without a "
            "seed (new numbers every run), or numbers already drawn from it in this step." % (name, call))


def _other_dtype(value, want) -> bool:
    """The same numbers in the same shape as ``want``, in an array of another dtype."""
    return (value[0] == want[0] == "ndarray" and value[1][0] != want[1][0]
            and value[1][1] == want[1][1] and _flat(value) == _flat(want))


def _untouched(got, c, generator) -> bool:
    return got["names"].get(generator) == c["before_names"].get(generator)


def numpy_draws(got, c, name, generator, low, high, size):
    value, want = got["names"].get(name), c["want"]["names"].get(name)
    right_state = got["names"].get(generator) == c["want"]["names"].get(generator)
    if value == want and right_state:
        return None
    call = "%s = %s.integers(%d, %d, size=%d)" % (name, generator, low, high, size)
    if value is None:
        return "there is no variable called %s after your cell; write %s." % (name, call)
    if value[0] != "ndarray":
        return "%s is %s, not the numpy array %s.integers returns; write %s." % (
            name, _described(value), generator, call)
    if want and _other_dtype(value, want):
        return ("%s holds the right numbers, but as an array of another dtype (%s): %s.integers gives "
                "numpy's default integers; do not convert them." % (name, value[1][0], generator))
    items = _flat(value)
    if len(items) != size:
        held = "holds %d numbers" % len(items) if c["detail"] else "does not always hold %d numbers" % size
        return "%s %s, not %d: size=%d draws %d of them." % (name, held, size, size, size)
    if not all(type(v) is int and low <= v < high for v in items):
        return ("%s are not all whole numbers from %d to %d; write %s (the high end, %d, is "
                "exclusive)." % (name, low, high - 1, call, high))
    if _untouched(got, c, generator):
        return ("%s was not used: its state is where the step before left it. Common mistakes: "
                "numbers typed in, the legacy np.random.randint (numpy's global generator, not %s), "
                "or a fresh np.random.default_rng(...) made for the draw; write %s." % (generator, generator, call))
    before = c["before_names"].get(generator)
    if before and before[0] == "generator" and c["detail"]:
        shorter = _generator(before[1]).integers(low, high - 1, size=size).tolist()
        if items == shorter:
            return ("%s never holds %d: integers(%d, %d) leaves out its high end, which is "
                    "exclusive; write %s." % (name, high - 1, low, high - 1, call))
    if not c["detail"] and value == c["task"]["names"].get(name):
        return ("your code gives the seed-%d numbers even when %s is seeded differently: numbers "
                "typed in, or a fresh np.random.default_rng(%d) made in this step. Draw from %s: %s."
                % (c["task_seed"], generator, c["task_seed"], generator, call))
    return ("your numbers do not follow %s: draw them with one call, %s, and nothing else "
            "(common mistake: integers(%d, %d): the high end is exclusive, so %d never comes)."
            % (generator, call, low, high - 1, high - 1))


def numpy_split(got, c, order, test, train, generator, n, test_size):
    names, want = got["names"], c["want"]["names"]
    if all(names.get(k) == want.get(k) for k in (order, test, train, generator)):
        return None
    shuffle = "%s = %s.permutation(%d)" % (order, generator, n)
    slices = "%s = %s[:%d] and %s = %s[%d:]" % (test, order, test_size, train, order, test_size)
    for name in (order, test, train):
        if names.get(name) is None:
            return "there is no variable called %s after your cell; write %s, then %s." % (name, shuffle, slices)
    for name in (order, test, train):
        if names[name][0] != "ndarray":
            return ("%s is %s; keep numpy arrays: %s, then %s." % (name, _described(names[name]), shuffle, slices))
    for name in (order, test, train):
        if want.get(name) and _other_dtype(names[name], want[name]):
            return ("%s holds the right indices, but as an array of another dtype (%s): keep the array "
                    "%s.permutation gives, and slice it." % (name, names[name][1][0], generator))
    got_order, got_test, got_train = _flat(names[order]), _flat(names[test]), _flat(names[train])
    if sorted(got_order) != list(range(n)):
        return ("%s is not a shuffle of 0 to %d (each once). Common mistake: %s.choice(%d, %d) draws "
                "with replacement; write %s." % (order, n - 1, generator, n, test_size, shuffle))
    if len(got_test) != test_size:
        return "%s holds %d indices, not %d: write %s." % (test, len(got_test), test_size, slices)
    if set(got_test) & set(got_train):
        return ("%s and %s overlap: an index in both lets the model see its test data. Slice one "
                "shuffle in two: %s." % (test, train, slices))
    if sorted(got_test + got_train) != list(range(n)):
        return ("%s and %s together do not cover 0 to %d: an index left out is data thrown away. "
                "Write %s." % (test, train, n - 1, slices))
    if _untouched(got, c, generator):
        return ("%s was not used: its state is where the step before left it. Common mistakes: "
                "indices typed in, the legacy np.random.permutation, or a fresh "
                "np.random.default_rng(...); write %s." % (generator, shuffle))
    if not c["detail"] and names[order] == c["task"]["names"].get(order):
        return ("your code gives the seed-%d shuffle even when %s is seeded differently: indices "
                "typed in, or a fresh np.random.default_rng(%d) made in this step. Write %s."
                % (c["task_seed"], generator, c["task_seed"], shuffle))
    if names[order] == want.get(order):
        return "%s is right, but the split is not %s." % (order, slices)
    return ("your shuffle does not follow %s as the step before left it: draw it with one call, %s, "
            "and nothing else." % (generator, shuffle))


# A parameter is either REPORTED (the name of a variable the step must report: it is judged on
# that name's value) or a whole number.
REPORTED, WHOLE = "reported name", "whole number"


@dataclass(frozen=True)
class Kind:
    """A check kind: its function and the parameters a declaration must give it, each a
    :data:`REPORTED` name or a :data:`WHOLE` number."""

    check: Callable
    parameters: dict
    judges_random_state: bool = False  # whether it reads the ``random`` state's fingerprint


KINDS = {
    "empty-list": Kind(empty_list, {"name": REPORTED}),
    "seeded-generator": Kind(seeded_generator, {"module": REPORTED, "seed": WHOLE}, judges_random_state=True),
    "scores": Kind(scores, {"name": REPORTED, "count": WHOLE, "low": WHOLE, "high": WHOLE}),
    "printed": Kind(printed, {"name": REPORTED}),
    "numpy-generator": Kind(numpy_generator, {"name": REPORTED, "seed": WHOLE}),
    "numpy-draws": Kind(numpy_draws, {"name": REPORTED, "generator": REPORTED, "low": WHOLE, "high": WHOLE,
                                      "size": WHOLE}),
    "numpy-split": Kind(numpy_split, {"order": REPORTED, "test": REPORTED, "train": REPORTED,
                                      "generator": REPORTED, "n": WHOLE, "test_size": WHOLE}),
}
