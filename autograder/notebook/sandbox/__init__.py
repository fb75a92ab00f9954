"""The sandbox every piece of student code runs in during grading: Debian's ``bubblewrap``.

Both the notebook kernel (:mod:`autograder.notebook.kernel`) and every out-of-kernel re-execution
(:mod:`autograder.notebook.reexecute`) are started through :func:`.bwrap.command`, which wraps an argv in
``bwrap`` so that the student's code

- sees a filesystem made only of the operating system (``/usr`` and a few ``/etc`` files), the
  Python installation read-only (the venv's ``bin``/``lib`` only, not its Jupyter runtime or
  IPython history), the files it is graded on read-only, an empty size-capped writable working
  folder and ``/tmp``; nothing of the course (``source/``, ``autograder/notebook/expected.json``, the quiz
  key, ``gradebook.db``, other students' folders) exists in there;
- has no network (a fresh network namespace; the kernel talks to nbgrader over ZeroMQ ``ipc``
  sockets in a small tmpfs of the sandbox's), its own PID namespace (everything it starts dies with
  it, and it cannot see or signal other processes), its own IPC and UTS namespaces;
- runs under a fresh unprivileged uid of its own (random, above 3e9, no account, listed as
  ``student`` in the sandbox's own /etc/passwd) without capabilities when grading runs as root,
  so the process limit (``RLIMIT_NPROC``, which the kernel never enforces for root, and which
  counts per uid) holds per sandbox, also when several are graded at once; when grading runs as
  an ordinary user, bwrap's user namespace gives the same effect;
- gets its resource limits from ``prlimit`` (util-linux) inside the sandbox, after the uid change;
- cannot create user namespaces (a seccomp filter), so it cannot mount anything of its own;
- inherits no descriptor of the grader's (a launcher closes all but 0, 1, 2 before bwrap).

:func:`.cgroup.budget` puts all the sandboxes of one submission into one cgroup (memory, including memfd
and tmpfs pages, and processes, for all of them together).

Where bwrap is missing or cannot create namespaces, :func:`.bwrap.command` still applies the resource
limits, and :func:`.modes.warn_if_unsandboxed` says loudly (log + stderr) that student code runs with
the grader's permissions. ``AUTOGRADER_SANDBOX=off`` forces that mode (for debugging);
``AUTOGRADER_SANDBOX=required`` makes grading fail instead. ``python -m autograder.notebook.sandbox``
prints which mode this machine gets.

One module per job:

- :mod:`.bwrap`: the bubblewrap command line (:func:`~.bwrap.command`), the rlimits
  (:class:`~.bwrap.ProcessLimits`) and the sandbox's uids;
- :mod:`.launcher`: the small launcher that starts bwrap, and the seccomp filter;
- :mod:`.cgroup`: one cgroup budget per submission (:func:`~.cgroup.budget`,
  :func:`~.cgroup.auto_budget`), and the sweep of stale ones;
- :mod:`.modes`: which sandbox this machine gives (:func:`~.modes.detect`) and the loud
  warnings when it gives none.
"""
