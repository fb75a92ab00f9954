"""Instant feedback for the practice round of quiz.ipynb in numpy_seeds (not graded).

In the notebook::

    import practice
    practice.check(1, "B")   # right or wrong, why, and the mistake a wrong letter points to
    practice.hint(1)         # a nudge that does not give the answer away
    practice.solution(1)     # the worked solution

The practice answers are not secret: the graded test asks different questions.
"""

LETTERS = "ABCD"

QUESTIONS = {
    1: {
        "level": "easy",
        "question": "You make two generators from the same seed and draw three numbers from each. "
                    "How do the two draws compare?",
        "code": "import numpy as np\na = np.random.default_rng(42)\nb = np.random.default_rng(42)\n"
                "print(a.integers(0, 100, size=3))\nprint(b.integers(0, 100, size=3))",
        "options": {
            "A": "The same three numbers, twice",
            "B": "Two different lists: each generator takes its own entropy from the computer",
            "C": "b's numbers are the three that come after a's",
            "D": "An error: a seed can be given to one generator only",
        },
        "answer": "A",
        "steps": [
            "What the seed fixes: default_rng(42) always starts in the same state, whichever "
            "generator object it builds.",
            "What the draws give: a and b start alike and each draws three numbers from its own "
            "start, so they print the same list. The generators are separate: drawing from a "
            "does not move b.",
        ],
        "quick_check": "same seed, same steps -> same numbers, one generator object or many.",
        "hint": "Each generator has its own state. Where does each one start?",
        "mistakes": {
            "B": "Thinking a seeded generator still takes entropy from the computer: only "
                 "default_rng() without a seed does that.",
            "C": "Thinking generators share one sequence: that is the legacy global state "
                 "(np.random.seed); each Generator has its own.",
            "D": "Thinking a seed is used up: any number of generators can be made from the same "
                 "seed.",
        },
    },
    2: {
        "level": "medium",
        "question": "Which values can this line put in coin?",
        "code": "coin = rng.integers(0, 2, size=8)",
        "options": {
            "A": "0, 1 and 2",
            "B": "Only 0 and 1",
            "C": "Only 1 and 2",
            "D": "Any whole number from 0 to 8",
        },
        "answer": "B",
        "steps": [
            "Read the bounds: integers(low, high) draws from low up to, but not including, high, "
            "like range(low, high).",
            "Apply them: integers(0, 2) gives 0 or 1. size=8 is how many numbers, not their range.",
        ],
        "quick_check": "integers(0, 2) -> 0 or 1: high is exclusive.",
        "hint": "Which numbers does range(0, 2) hold?",
        "mistakes": {
            "A": "Reading high as included, as in random.randint: in Generator.integers the high "
                 "end is exclusive.",
            "C": "Shifting both ends: low is included, so 0 can come; only high is left out.",
            "D": "Mixing up size with the range: size is how many numbers are drawn.",
        },
    },
    3: {
        "level": "hard",
        "question": "A script seeds NumPy's legacy global state, calls a library function that "
                    "happens to draw one number from that state, then draws x. Compared with the "
                    "same script without the library call, what is x?",
        "code": "import numpy as np\n\ndef helper():  # stands in for a library function\n"
                "    return np.random.random()\n\nnp.random.seed(42)\nhelper()\n"
                "x = np.random.randint(0, 100)",
        "options": {
            "A": "The same number: the seed was set just before",
            "B": "Another number: helper() drew from the one shared global state and moved the "
                 "sequence on",
            "C": "An error: np.random.random and np.random.randint cannot be mixed",
            "D": "The same number, because helper() draws a float and randint draws an integer",
        },
        "answer": "B",
        "steps": [
            "Find the shared state: np.random.seed seeds one global generator, and every "
            "np.random function in the program, a library's included, draws from it.",
            "Follow the draws: helper() takes the first number after the seed, so randint gets "
            "the next one, not the one it got without the call. With rng = "
            "np.random.default_rng(42) passed only to your own code, a library cannot do this.",
        ],
        "quick_check": "one global state: anyone's draw moves everyone's numbers.",
        "hint": "How many generators are in play here, and who draws from them?",
        "mistakes": {
            "A": "Thinking the seed protects the next line: it fixes where the sequence starts, "
                 "and every draw in between moves it on.",
            "C": "Thinking the legacy functions clash: they all draw from the same state, without "
                 "an error.",
            "D": "Thinking draws of different kinds use different sequences: they all use the one "
                 "global state.",
        },
    },
}


class Feedback:
    """Text shown under a practice cell: Markdown in Jupyter, plain text elsewhere."""

    def __init__(self, markdown: str, correct=None):
        self.markdown = markdown
        self.correct = correct

    def _repr_markdown_(self):
        return self.markdown

    def __repr__(self):
        return self.markdown.replace("**", "").replace("`", "")


def _show(feedback):
    try:
        from IPython.display import display
    except ImportError:  # plain Python: print the text
        print(repr(feedback))
    else:
        display(feedback)


def _question(number):
    if number not in QUESTIONS:
        raise ValueError(f"There are practice questions 1 to {len(QUESTIONS)}; got {number!r}.")
    return QUESTIONS[number]


def _explanation(q):
    lines = [f"Step {i}: {text}" for i, text in enumerate(q["steps"], 1)]
    lines.append(f"Answer: {q['answer']}. {q['options'][q['answer']]}")
    lines.append(f"Quick check: {q['quick_check']}")
    return "\n\n".join(lines)


def feedback(number, answer) -> Feedback:
    """The feedback for ``answer`` to practice question ``number`` (what ``check`` shows)."""
    q = _question(number)
    letter = answer.strip().upper() if isinstance(answer, str) else None
    if not letter:
        return Feedback(f"**Question {number}:** put your letter between the quotes, for example "
                        f"`practice.check({number}, \"...\")` with one of A, B, C or D in place of "
                        "the dots.")
    if letter not in LETTERS:
        return Feedback(f"**Question {number}:** {answer!r} is not one of the options; answer with "
                        "one of the letters A, B, C or D.")
    if letter == q["answer"]:
        return Feedback(f"**Question {number}: correct, {letter}.**\n\n{_explanation(q)}",
                        correct=True)
    return Feedback(f"**Question {number}: {letter} is not right.**\n\nCommon mistake: "
                    f"{q['mistakes'][letter]}\n\nTry again. `practice.hint({number})` gives a "
                    f"hint; `practice.solution({number})` shows the worked solution.",
                    correct=False)


def check(number, answer):
    """Show whether ``answer`` is right for practice question ``number``, and why."""
    _show(feedback(number, answer))


def hint(number):
    """Show a hint for practice question ``number``; it does not name the answer."""
    _show(Feedback(f"**Hint for question {number}:** {_question(number)['hint']}"))


def solution(number):
    """Show the worked solution of practice question ``number``."""
    _show(Feedback(f"**Solution to question {number}**\n\n{_explanation(_question(number))}"))
