"""The course's grader, in three parts whose imports point one way only:

- :mod:`autograder.notebook`: grading one notebook (nbgrader preprocessors, the sandboxed kernel,
  the out-of-kernel re-execution of the steps, the quiz); knows nothing of a class.
- :mod:`autograder.classrun`: grading a class (intake, grading tasks, executors and worker pools,
  the coordinator, the gradebook, reports and receipts); uses :mod:`~autograder.notebook`.
- :mod:`autograder.course`: the course loop around grading (the demo class, feedback, dashboard,
  LMS, student kit, lock file); uses both.
"""
