"""Instant feedback for the practice round of quiz.ipynb (not graded).

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
        "question": "What does reproducibility in machine learning mainly make sure of?",
        "options": {
            "A": "Repeating the same steps gives the same results every time",
            "B": "The model trains faster on new data",
            "C": "Training needs less memory",
            "D": "The model's accuracy improves on its own over time",
        },
        "answer": "A",
        "steps": [
            "What the word means: a result is reproducible when doing the same work again "
            "gives the same outcome.",
            "What that promise covers: it is about consistent results. It says nothing about "
            "speed, memory, or a model that gets better by itself.",
        ],
        "quick_check": "reproducible = same steps, same results.",
        "hint": "Ask yourself what you would expect if you ran the exact same experiment twice.",
        "mistakes": {
            "B": "Mixing up reproducibility with performance: a reproducible run can be slow.",
            "C": "Thinking reproducibility saves resources: it is about the results, not the memory used.",
            "D": "Thinking reproducibility means the model updates itself: it means results stay the "
                 "same, not that they improve.",
        },
    },
    2: {
        "level": "easy",
        "question": "Which practice helps make an ML experiment reproducible?",
        "options": {
            "A": "Skipping the data preprocessing steps",
            "B": "Picking a random batch size on every run",
            "C": "Setting random seeds so the random choices are fixed",
            "D": "Changing the model architecture on every run",
        },
        "answer": "C",
        "steps": [
            "Which technique fixes randomness: a seed makes the generator produce the same "
            "sequence of random choices on every run.",
            "Check the others: random batch sizes, a different model each run, or skipped steps "
            "all make two runs differ.",
        ],
        "quick_check": "seeds pin down randomness.",
        "hint": "Three of the options change something between runs. Which one stops change?",
        "mistakes": {
            "A": "Treating preprocessing as optional: leaving out steps changes what the model sees, "
                 "and with it the results.",
            "B": "Believing random batch sizes help: they add one more thing that changes between runs.",
            "D": "Believing a new architecture each run helps: a different model gives different results.",
        },
    },
    3: {
        "level": "medium",
        "question": "What does this snippet print, every time you run it?",
        "code": "import random\nrandom.seed(42)\nprint(random.randint(1, 10))",
        "options": {
            "A": "2, on every run",
            "B": "A different number between 1 and 10 on each run",
            "C": "10, on every run",
            "D": "An error, because the seed is set the wrong way",
        },
        "answer": "A",
        "steps": [
            "What random.seed(42) does: it puts the generator at a fixed starting point, so "
            "the numbers that follow are the same on every run.",
            "What comes out: from seed 42, random.randint(1, 10) gives 2, and it gives 2 again "
            "whenever the script starts afresh.",
        ],
        "quick_check": "seed 42, then randint(1, 10) -> 2, run after run.",
        "hint": "A seed does not stop the numbers from looking random; it makes them repeat. "
                "Run the three lines in a new cell and see.",
        "mistakes": {
            "B": "Expecting a new number each run even though the seed is fixed: fixing the "
                 "sequence is exactly what the seed is for.",
            "C": "Guessing an end of the range: with a seed the output is one particular number, "
                 "which you find by running the code, not by picking the largest or smallest.",
            "D": "Expecting an error: random.seed(42) is the normal way to seed Python's generator.",
        },
    },
    4: {
        "level": "medium",
        "question": "Your ML experiment gives different results every time you run it. Which change "
                    "makes it more reproducible?",
        "options": {
            "A": "Taking the code out of version control",
            "B": "Turning off container tools such as Docker",
            "C": "Using a different dataset on each run",
            "D": "Setting fixed random seeds in every library that draws random numbers",
        },
        "answer": "D",
        "steps": [
            "Find the cause: randomness that nobody pinned down (shuffling, initial weights, "
            "random splits) makes each run different.",
            "Pick the fix: a fixed seed in every library that uses randomness (random, NumPy, "
            "your ML framework) makes those random choices repeat.",
        ],
        "quick_check": "fixed seeds everywhere -> repeatable runs.",
        "hint": "The runs differ by chance. Which option takes the chance out?",
        "mistakes": {
            "A": "Seeing version control as unrelated: it records which code produced a result, so "
                 "removing it makes results harder to reproduce, not easier.",
            "B": "Seeing containers as unrelated: a container fixes the environment the code runs in.",
            "C": "Changing the data between runs: different data gives different results by design.",
        },
    },
    5: {
        "level": "hard",
        "question": "A notebook seeds the generator in one cell and draws five scores in the next "
                    "cell. You run both cells, then run only the second cell again. What does the "
                    "second run of that cell give?",
        "code": "# cell 1\nimport random\nrandom.seed(42)\n\n# cell 2\n"
                "scores = [random.randint(80, 100) for i in range(5)]\nprint(scores)",
        "options": {
            "A": "The same five scores as the first time",
            "B": "Five other scores: the generator carries on from where the first run stopped",
            "C": "An error, because the seed was already used up",
            "D": "An empty list",
        },
        "answer": "B",
        "steps": [
            "What a seed fixes: the starting point of the sequence. Every draw moves the "
            "generator one step along it.",
            "What happens on the re-run: cell 1 did not run again, so the generator starts where "
            "the first five draws left it and the next five numbers come out. To get the first "
            "five again, run cell 1 first (or restart and run all).",
        ],
        "quick_check": "same seed + same steps from the start -> same numbers; skip the seed -> the "
                       "sequence just goes on.",
        "hint": "The seed sets where the sequence starts. Where is the sequence when cell 2 runs "
                "the second time?",
        "mistakes": {
            "A": "Thinking the seed sticks to the numbers forever: it sets the starting point once; "
                 "each draw moves the generator on.",
            "C": "Thinking a seed can run out: the generator keeps producing numbers after any "
                 "number of draws.",
            "D": "Mixing up the cells: the list is built afresh by cell 2 and always gets five scores.",
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
        raise ValueError("There are practice questions 1 to %d; got %r." % (len(QUESTIONS), number))
    return QUESTIONS[number]


def _explanation(q):
    lines = ["Step %d: %s" % (i, text) for i, text in enumerate(q["steps"], 1)]
    lines.append("Answer: %s. %s" % (q["answer"], q["options"][q["answer"]]))
    lines.append("Quick check: %s" % q["quick_check"])
    return "\n\n".join(lines)


def feedback(number, answer) -> Feedback:
    """The feedback for ``answer`` to practice question ``number`` (what ``check`` shows)."""
    q = _question(number)
    letter = answer.strip().upper() if isinstance(answer, str) else None
    if not letter:
        return Feedback("**Question %d:** put your letter between the quotes, for example "
                        "`practice.check(%d, \"...\")` with one of A, B, C or D in place of the dots."
                        % (number, number))
    if letter not in LETTERS:
        return Feedback("**Question %d:** %r is not one of the options; answer with one of the "
                        "letters A, B, C or D." % (number, answer))
    if letter == q["answer"]:
        return Feedback("**Question %d: correct, %s.**\n\n%s" % (number, letter, _explanation(q)),
                        correct=True)
    return Feedback("**Question %d: %s is not right.**\n\nCommon mistake: %s\n\nTry again. "
                    "`practice.hint(%d)` gives a hint; `practice.solution(%d)` shows the worked "
                    "solution." % (number, letter, q["mistakes"][letter], number, number),
                    correct=False)


def check(number, answer):
    """Show whether ``answer`` is right for practice question ``number``, and why."""
    _show(feedback(number, answer))


def hint(number):
    """Show a hint for practice question ``number``; it does not name the answer."""
    _show(Feedback("**Hint for question %d:** %s" % (number, _question(number)["hint"])))


def solution(number):
    """Show the worked solution of practice question ``number``."""
    _show(Feedback("**Solution to question %d**\n\n%s" % (number, _explanation(_question(number)))))
