"""Grading on submit (autograder/hub/grading_service.py) end to end on one machine: real unix
accounts (a student group, students, the grader; made with useradd, removed after), the course
deployed under a root the grader owns, nbgrader's exchange with the assignment released by the
grader, students fetching and submitting with nbgrader as themselves, and the service running as a
real process as the grader account (tests/grading_service_support.py).

- a right answer comes back through "Fetch Feedback" with every step's full points and the quiz's
  score withheld; ``release-quiz`` shows it;
- a mistaken answer's feedback names the mistake;
- a folder named for a victim but made by another account is quarantined, the victim's grade
  untouched; so are a link, a non-member's submission and a submission holding a FIFO;
- the service SIGKILLed while its grade run runs is restarted and grades every pending
  submission exactly once (those that arrived while it was down too); an endless submission in
  the same batch costs only its student (the others are released before it), and one alone in its
  batch does not hold the next batch back;
- 50 submissions of one student in a minute: one graded at a time, at least the interval apart,
  always the newest; another student's submission is graded in the first batch after it
  arrives.

The journal's rules themselves (attempts, interval, superseding, due dates) are checked without
root at the end, against the SQLite journal directly.
"""
import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from corpus import reproducibility
from support import ASSIGNMENT, ROOT, step_scores

from autograder.hub import attempts
from autograder.hub.inbound import finished
from autograder.notebook import assignments

ENDLESS = {**reproducibility.REFERENCE, "step1": "accuracy_scores = []\nwhile True:\n    pass"}
INTERVAL = 8.0  # longer than a batch takes here, so that only the rule keeps attempts apart
MARKS = [pytest.mark.root, pytest.mark.bwrap, pytest.mark.slow,
         pytest.mark.skipif(os.geteuid() != 0, reason="needs root: makes unix accounts with useradd")]


def service(test):
    """A test of the real service: root (accounts), bubblewrap (grading where it is required), slow."""
    for mark in MARKS:
        test = mark(test)
    return test

TITLES = assignments.titles(ROOT / "source", ASSIGNMENT)
STEP_TITLES = {g: t for graded in assignments.declared(ROOT / "source", ASSIGNMENT) if graded.kind == "steps"
               for g, t in graded.tests.items()}


@pytest.fixture(scope="module")
def klass(course_template):
    from grading_service_support import ClassOnMachine
    found = ClassOnMachine(course_template, config=f"c.CourseHub.attempt_interval = {INTERVAL}\n"
                                                   "c.CourseHub.max_attempts = 40\n"
                                                   "c.GradingService.straggler_seconds = 3\n"
                                                   # an endless step takes 30 s, far longer than a batch
                                                   "c.GradingLimits.reexecution_seconds = 30\n"
                                                   "c.GradingLimits.reexecution_cpu_seconds = 30\n")
    try:
        found.start()
        yield found
    finally:
        found.close()


def rows_of(klass, student):
    return [r for r in klass.rows() if r["student"] == student]


def settled(klass, student, count=1):
    """True once ``count`` of the student's submissions are in a final state."""
    return sum(r["state"] in ("released", "superseded", "deferred", "failed", "quarantined")
               for r in rows_of(klass, student)) >= count


def table(page: str) -> dict:
    """{item title: (points text, css class, messages)} of a feedback page."""
    found = {}
    for item, css, points, rest in re.findall(
            r'<tr><td>(.*?)</td><td class="(\w+)">(.*?)</td><td>(.*?)</td></tr>', page, re.S):
        found[html.unescape(item)] = (points, css, [html.unescape(m) for m in re.findall(r"<li>(.*?)</li>", rest)])
    return found


def max_points(klass) -> dict:
    """{grade_id: max score} from the course's gradebook (written by generate_assignment)."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{klass.course / 'gradebook.db'}") as gb:
        return {c.name: c.max_score for nb in gb.find_assignment(ASSIGNMENT).notebooks for c in nb.grade_cells}


@service
def test_right_answer_gets_full_step_points_and_the_quiz_is_withheld(klass):
    ann = klass.add_student("ann")
    stamp = klass.submit(ann, reproducibility.REFERENCE)
    klass.wait_for(lambda: settled(klass, ann), what="ann's feedback")
    [row] = rows_of(klass, ann)
    assert row["state"] == "released" and row["status"] == "graded", row
    pages = klass.fetch_feedback(ann)
    assert list(pages) == [stamp]
    steps = table(pages[stamp]["reproducibility"])
    top = max_points(klass)
    assert steps == {title: ("%g / %g" % (top[g], top[g]), "full", []) for g, title in STEP_TITLES.items()}
    assert "assignment total" not in pages[stamp]["reproducibility"]
    quiz = pages[stamp]["quiz"]
    assert "released when your instructor releases it" in quiz
    assert not table(quiz) and not re.search(r"\d+ / \d+", quiz)

    # the journal stays the grader's: another account (root here) is refused and changes nothing
    refused = subprocess.run([sys.executable, "-m", "autograder.hub.grading_service", "release-quiz", ASSIGNMENT,
                              "--course", str(klass.course)], capture_output=True, text=True)
    assert refused.returncode == 2 and f"sudo -u {klass.grader}" in refused.stderr
    assert "released when your instructor releases it" in klass.fetch_feedback(ann)[stamp]["quiz"]
    # the instructor releases the quiz: the service re-releases the pages with its points
    released = klass.as_user(klass.grader, "-m", "autograder.hub.grading_service", "release-quiz", ASSIGNMENT,
                             cwd=klass.course)
    assert "released" in released.stdout
    quiz_titles = {t for g, t in TITLES.items() if g not in STEP_TITLES}

    def quiz_shown():
        page = klass.fetch_feedback(ann)[stamp]["quiz"]
        return set(table(page)) == quiz_titles
    klass.wait_for(quiz_shown, what="the quiz's points after release-quiz")
    assert "assignment total" in klass.fetch_feedback(ann)[stamp]["reproducibility"]


@service
def test_mistaken_answer_feedback_names_the_mistake(klass):
    bob = klass.add_student("bob")
    stamp = klass.submit(bob, {**reproducibility.REFERENCE, "step2": reproducibility.STEP2_SEED_7})
    klass.wait_for(lambda: settled(klass, bob), what="bob's feedback")
    steps = table(klass.fetch_feedback(bob)[stamp]["reproducibility"])
    step2 = STEP_TITLES["test_step2"]
    points, css, messages = steps[step2]
    assert css == "lost" and points.startswith("0 /"), steps[step2]
    assert any("seeded with 7" in m for m in messages), messages
    assert all(c == "full" for title, (_, c, _) in steps.items() if title not in (step2, STEP_TITLES["test_step3"]))


@service
def test_forged_and_hostile_entries_are_quarantined_never_graded(klass):
    vic, eve = klass.add_student("vic"), klass.add_student("eve")
    out = klass.add_student("out", in_group=False)
    klass.submit(vic, reproducibility.REFERENCE)
    klass.wait_for(lambda: settled(klass, vic), what="vic's feedback")
    before = step_scores(klass.course)[vic]
    graded_at = (klass.course / "autograded" / vic / ASSIGNMENT).stat().st_mtime_ns
    inbound = klass.exchange / "reproducible-ml" / "inbound"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    forged = f"{vic}+{ASSIGNMENT}+{stamp}+AAAAAAAAAAAA"       # named for vic, made by eve
    link = f"{eve}+{ASSIGNMENT}+{stamp}+BBBBBBBBBBBB"         # eve's own name, a link to vic's work
    fifo = f"{eve}+{ASSIGNMENT}+{stamp}+CCCCCCCCCCCC"         # eve's own folder, a FIFO inside
    script = (
        "import os, shutil, sys\ninbound, work, forged, link, fifo, vic_work = sys.argv[1:]\n"
        "shutil.copytree(work, os.path.join(inbound, forged))\nos.chmod(os.path.join(inbound, forged), 0o777)\n"
        "os.symlink(vic_work, os.path.join(inbound, link))\n"
        "shutil.copytree(work, os.path.join(inbound, fifo))\nos.mkfifo(os.path.join(inbound, fifo, 'pipe'))\n"
        "os.chmod(os.path.join(inbound, fifo), 0o777)\n")
    klass.as_user(eve, "-c", script, str(inbound), str(klass.base / "home" / eve / "work" / ASSIGNMENT),
                  forged, link, fifo, str(klass.base / "home" / vic / "work"), cwd=klass.base)
    klass.submit(out, reproducibility.REFERENCE)  # a real nbgrader submit by an account outside the group
    names = {forged, link, fifo}
    klass.wait_for(lambda: names <= {r["name"] for r in klass.rows() if r["state"] == "quarantined"}
                   and [r for r in klass.rows() if r["name"].startswith(out + "+")], what="the quarantine")
    reasons = {r["name"]: r["reason"] for r in klass.rows() if r["state"] == "quarantined"}
    eve_uid = os.stat(klass.base / "home" / eve).st_uid
    assert f"not by {vic!r}" in reasons[forged] and f"owned by uid {eve_uid}" in reasons[forged]
    assert "not a directory" in reasons[link]
    assert "intake: not a regular file" in reasons[fifo] and "FIFO" in reasons[fifo]
    [out_row] = [r for r in klass.rows() if r["name"].startswith(out + "+")]
    assert out_row["state"] == "quarantined" and "not in the group" in out_row["reason"]
    # nothing of them is left in inbound, nothing was graded as anyone, vic's grade is untouched
    assert not [n for n in os.listdir(inbound) if n in names or n.startswith(out)]
    logged = [json.loads(line) for line in (klass.root / "grading" / "quarantine.log").read_text().splitlines()]
    assert names | {out_row["name"]} <= {e["name"] for e in logged}
    assert all(e["moved_to"] and Path(e["moved_to"]).parent == klass.root / "grading" / "quarantine"
               for e in logged if e["name"] in names)
    assert step_scores(klass.course)[vic] == before
    assert (klass.course / "autograded" / vic / ASSIGNMENT).stat().st_mtime_ns == graded_at
    assert [r["state"] for r in rows_of(klass, vic)] == ["released"]
    assert eve not in step_scores(klass.course) and out not in step_scores(klass.course)
    assert oct(os.stat(inbound).st_mode & 0o7777) == "0o3733"  # sticky: nobody renames another's entry


@service
def test_sigkill_mid_grade_grades_each_pending_submission_exactly_once(klass):
    kim, lou, zed = klass.add_student("kim"), klass.add_student("lou"), klass.add_student("zed")
    slow = {**reproducibility.REFERENCE, "step1": "accuracy_scores = []\nimport time\ntime.sleep(1)"}
    klass.submit(kim, slow)
    running = rf"grading {ASSIGNMENT}: [^\n]*{kim}[^\n]* \(pid (\d+)\)"
    klass.wait_for(lambda: re.search(running, klass.service_log()), what="kim being graded")
    assert [r["state"] for r in rows_of(klass, kim)] == ["grading"]
    pid = int(re.findall(running, klass.service_log())[-1])
    assert b"autograder\0grade" in Path(f"/proc/{pid}/cmdline").read_bytes()  # the grade run is running
    klass.kill(signal.SIGKILL)
    # while the service is down: another student, and an endless submission
    klass.submit(lou, reproducibility.REFERENCE)
    klass.submit(zed, ENDLESS)
    # both done in nbgrader's eyes before the restart, so the restarted service takes them with kim
    inbound = klass.exchange / "reproducible-ml" / "inbound"
    deadline = time.monotonic() + 60          # a bound against hanging (the service is down now)
    while not all(finished(os.lstat(p), time.time()) for p in inbound.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    klass.start()
    klass.wait_for(lambda: all(settled(klass, s) for s in (kim, lou, zed)), what="everyone after the restart")
    for student in (kim, lou, zed):
        [row] = rows_of(klass, student)
        assert row["state"] == "released", row
        events = [e for _, sub, e, _ in klass.events() if sub == row["id"]]
        assert events.count("graded") == 1 and events.count("released") == 1, (student, events)
    assert [e for _, sub, e, _ in klass.events() if sub == rows_of(klass, kim)[0]["id"]] == \
        ["received", "grading", "received", "grading", "graded", "released"]
    assert not Path(f"/proc/{pid}").exists()  # the old grade run did not outlive its service
    for student in (kim, lou):
        pages = klass.fetch_feedback(student)
        [stamp] = pages
        assert all(c == "full" for _, c, _ in table(pages[stamp]["reproducibility"]).values()), student
    # the endless one failed its step and cost nobody else: its batch-mates were released first
    # (it is graded last of the three by name: this is about release order, not about who started)
    [zed_row], [lou_row], [kim_row] = rows_of(klass, zed), rows_of(klass, lou), rows_of(klass, kim)
    assert zed_row["started"] == lou_row["started"] == kim_row["started"]  # one batch
    assert max(lou_row["finished"], kim_row["finished"]) < zed_row["finished"]
    zed_steps = table(next(iter(klass.fetch_feedback(zed).values()))["reproducibility"])
    assert zed_steps[STEP_TITLES["test_step1"]][1] == "lost"


@service
def test_a_late_submission_is_graded_and_flagged_and_an_on_time_one_counts(course_template):
    from nbgrader.api import Gradebook

    from grading_service_support import ClassOnMachine
    klass = ClassOnMachine(course_template, ["ada", "lee"], config="c.CourseHub.attempt_interval = 0\n"
                           "c.LateSubmissionPlugin.penalty_method = 'zero'\n")  # a late notebook's penalty = its score
    try:
        ada, lee = klass.students["ada"], klass.students["lee"]
        due = datetime.now(timezone.utc) + timedelta(seconds=30)
        with Gradebook(f"sqlite:///{klass.course / 'gradebook.db'}") as gb:  # as `nbgrader db assignment add --duedate`
            gb.update_or_create_assignment(ASSIGNMENT, duedate=due.replace(tzinfo=None))
        klass.start()
        on_time = klass.submit(ada, reproducibility.REFERENCE)
        klass.wait_for(lambda: settled(klass, ada), what="ada's on-time feedback")
        time.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()) + 1)
        klass.submit(ada, {**reproducibility.REFERENCE, "step2": reproducibility.STEP2_SEED_7})  # late
        late = klass.submit(lee, reproducibility.EXAMPLE_CLASS["ada"])                            # late, only one
        klass.wait_for(lambda: settled(klass, ada, 2) and settled(klass, lee), what="the late ones")
        assert [(r["state"], r["reason"]) for r in rows_of(klass, ada)] == [
            ("released", None), ("deferred", "late: the on-time submission counts")]
        pages = klass.fetch_feedback(ada)
        assert "after the due date" not in pages[on_time]["reproducibility"]
        assert all(c == "full" for _, c, _ in table(pages[on_time]["reproducibility"]).values())
        [row] = rows_of(klass, lee)
        assert row["state"] == "released"
        assert "after the due date" in klass.fetch_feedback(lee)[late]["reproducibility"]
        with Gradebook(f"sqlite:///{klass.course / 'gradebook.db'}") as gb:
            assert gb.find_submission(ASSIGNMENT, lee).total_seconds_late > 0
            assert gb.find_submission(ASSIGNMENT, ada).total_seconds_late == 0
            penalties = {nb.name: nb.late_submission_penalty for nb in gb.find_submission(ASSIGNMENT, lee).notebooks}
        # the quiz's score is withheld: the late penalty shown leaves out the quiz's (here its score)
        assert penalties["quiz"] > 0 and penalties["reproducibility"] > 0, penalties
        assert f"late penalty: {penalties['reproducibility']:g} point(s)" in klass.fetch_feedback(lee)[late]["reproducibility"]
    finally:
        klass.close()


@service
def test_an_endless_submission_does_not_hold_the_next_batch_back(klass):
    inf, amy = klass.add_student("inf"), klass.add_student("amy")
    klass.submit(inf, ENDLESS)
    klass.wait_for(lambda: [r["state"] for r in rows_of(klass, inf)] == ["grading"], what="inf being graded")
    klass.submit(amy, reproducibility.REFERENCE)
    klass.wait_for(lambda: settled(klass, amy) and settled(klass, inf), what="amy's and inf's feedback")
    [i], [a] = rows_of(klass, inf), rows_of(klass, amy)
    assert a["started"] > i["started"] and a["finished"] < i["finished"]  # began after it, released before it
    assert i["state"] == a["state"] == "released"
    steps = table(next(iter(klass.fetch_feedback(inf).values()))["reproducibility"])
    assert steps[STEP_TITLES["test_step1"]][1] == "lost"


SPAM = """
import sys, time
from traitlets.config import Config
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default import ExchangeSubmit
config = Config()
config.CourseDirectory.course_id, config.Exchange.root = sys.argv[1], sys.argv[2]
for i in range(int(sys.argv[3])):
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = "reproducibility"
    ExchangeSubmit(coursedir=coursedir, authenticator=Authenticator(config=config), config=config).start()
    time.sleep(float(sys.argv[4]))
"""


@service
def test_fifty_submissions_in_a_minute_one_graded_per_interval_nobody_delayed(klass):
    sam, oli = klass.add_student("sam"), klass.add_student("oli")
    klass.answer(sam, reproducibility.REFERENCE)
    work = klass.base / "home" / sam / "work"
    spam = subprocess.Popen(["runuser", "-u", sam, "--", klass.python, "-c", SPAM, "reproducible-ml",
                             str(klass.exchange), "50", "1.0"], cwd=work, env=klass.env(sam),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        klass.wait_for(lambda: len(rows_of(klass, sam)) >= 20, what="sam's first 20 submissions")
        klass.submit(oli, reproducibility.REFERENCE)
        assert spam.wait(timeout=300) == 0, spam.stdout.read()[-3000:]
    finally:
        if spam.poll() is None:
            spam.kill()
            spam.wait()
    assert len(klass.cached(sam)) == 50
    klass.wait_for(lambda: settled(klass, sam, 50) and settled(klass, oli), what="sam's 50 and oli's")
    rows = rows_of(klass, sam)
    assert len(rows) == 50  # none lost
    assert {r["state"] for r in rows} <= {"released", "superseded"}
    graded = sorted((r for r in rows if r["state"] == "released"), key=lambda r: r["started"])
    assert 1 < len(graded) < 50
    for first, second in zip(graded, graded[1:]):  # at most one attempt per interval
        assert second["started"] - first["started"] >= INTERVAL
    for g in graded:  # each graded one was the newest of those taken in before its attempt started
        newer = [r for r in rows if r["received"] <= g["started"] and r["timestamp"] > g["timestamp"]]
        assert not newer, (g, newer)
    assert max(rows, key=lambda r: r["timestamp"])["state"] == "released"  # the last one counts
    # oli waits behind nobody: graded in the first batch that started after oli's arrived
    [o] = rows_of(klass, oli)
    starts = {r["started"] for r in klass.rows() if r["started"]}
    assert not [s for s in starts if o["received"] < s < o["started"]]
    assert o["state"] == "released"


# -- the journal's rules, without root ----------------------------------------------------------------

def add(journal, student, minutes, assignment=ASSIGNMENT, base=datetime(2030, 1, 1, tzinfo=timezone.utc)):
    stamp = (base + timedelta(minutes=minutes)).isoformat()
    return journal.add(f"{student}-{minutes}", f"{student}+{assignment}+{stamp}+x", student, assignment, stamp,
                       "received")


def test_newest_waiting_submission_is_graded_and_the_rest_superseded(tmp_path):
    journal = attempts.Journal(tmp_path / "q.db")
    old, new, other = add(journal, "ann", 1), add(journal, "ann", 2), add(journal, "bob", 0)
    assignment, rows = journal.pick(1000.0, 60.0, 5, {}, 40)
    assert assignment == ASSIGNMENT and sorted(r.id for r in rows) == sorted([new, other])
    assert journal.get(old).state == "superseded"
    journal.set_state([r.id for r in rows], "grading", started=1000.0)
    later = add(journal, "ann", 3)
    assert journal.pick(1059.0, 60.0, 5, {}, 40) == (None, [])   # within the interval: waits
    assert journal.pick(1060.0, 60.0, 5, {}, 40) == (None, [])   # its attempt is still being graded
    assert journal.get(later).state == "received"
    journal.set_state([new], "released")
    assert journal.pick(1059.0, 60.0, 5, {}, 40) == (None, [])
    _, rows = journal.pick(1060.0, 60.0, 5, {}, 40)
    assert [r.id for r in rows] == [later]


def test_attempts_run_out_and_late_ones_wait_behind_an_on_time_one(tmp_path):
    journal = attempts.Journal(tmp_path / "q.db")
    for minute in (1, 2):
        add(journal, "ann", minute)
        _, rows = journal.pick(float(minute), 0.0, 2, {}, 40)
        assert len(rows) == 1
        journal.set_state([r.id for r in rows], "released", started=float(minute))
    third = add(journal, "ann", 3)
    assert journal.pick(100.0, 0.0, 2, {}, 40) == (None, [])
    assert journal.get(third).state == "deferred" and "2 graded attempts" in journal.get(third).reason
    due = datetime(2030, 1, 1, 0, 10, tzinfo=timezone.utc)
    on_time, late = add(journal, "bob", 5), add(journal, "bob", 20)
    _, rows = journal.pick(0.0, 0.0, 5, {ASSIGNMENT: due}, 40)
    assert [r.id for r in rows] == [on_time] and journal.get(late).state == "deferred"
    journal.set_state([on_time], "released", started=0.0)
    only_late = add(journal, "cleo", 30)
    _, rows = journal.pick(0.0, 0.0, 5, {ASSIGNMENT: due}, 40)
    assert [r.id for r in rows] == [only_late]  # no on-time one: the late one is graded (and flagged)


def test_after_a_run_breaks_each_of_its_submissions_is_tried_alone(tmp_path):
    """A submission that breaks every grade run it is in fails on its own: its batch-mates,
    tried alone, are graded and never share its MAX_TRIES."""
    journal = attempts.Journal(tmp_path / "q.db")
    ids = [add(journal, name, 1) for name in ("ann", "bob", "cy")]
    fresh = add(journal, "dee", 2)
    _, rows = journal.pick(0.0, 0.0, 5, {}, 40)
    assert [r.id for r in rows] == ids + [fresh]
    journal.set_state(ids, "grading", started=0.0)
    assert journal.requeue(ids) == []  # the run broke: all three waiting again
    picked = []
    for _ in ids:
        _, rows = journal.pick(0.0, 0.0, 5, {}, 40)
        assert len(rows) == 1
        picked.append(rows[0].id)
        journal.set_state(picked[-1:], "grading", started=0.0)
    assert picked == ids
    _, rows = journal.pick(0.0, 0.0, 5, {}, 40)
    assert [r.id for r in rows] == [fresh]  # then the rest, in batches again
    journal.set_state([ids[1], ids[2]], "released")
    for _ in range(attempts.MAX_TRIES - 2):  # ann breaks every run she is in (once already)
        assert journal.requeue([ids[0]]) == []
        _, rows = journal.pick(0.0, 0.0, 5, {}, 40)
        assert [r.id for r in rows] == [ids[0]]
        journal.set_state([ids[0]], "grading", started=0.0)
    assert journal.requeue([ids[0]]) == [ids[0]]
    assert [journal.get(i).state for i in ids] == ["failed", "released", "released"]
    journal.set_state([fresh], "grading", started=0.0)
    later = add(journal, "eve", 3)
    journal.requeue([fresh], broke=False)  # the service restarted: no try counted, batched as before
    _, rows = journal.pick(0.0, 0.0, 5, {}, 40)
    assert [r.id for r in rows] == [fresh, later] and journal.get(fresh).tries == 0


def test_an_entry_is_taken_only_once_nbgrader_submit_is_done_with_it():
    """The rush found half-copied submissions taken (the student's submit then failed): an entry
    is taken when its folder has the mode submit leaves last, unchanged for a few seconds."""
    import stat as modes

    from autograder.hub.inbound import QUIET_SECONDS, SETTLE_SECONDS, finished

    def entry(mode, age):
        now = 10_000.0
        return os.stat_result((modes.S_IFDIR | mode, 1, 1, 2, 1000, 1000, 4096, now, now, now - age)), now

    assert not finished(*entry(0o2755, 1.0))                    # copytree still copying (inherited setgid)
    assert not finished(*entry(0o770, 0.0))                     # set_perms' 0770, the 0777 chmod still to come
    assert not finished(*entry(0o777, QUIET_SECONDS - 0.5))     # stock submit's last chmod, just now
    assert finished(*entry(0o770, QUIET_SECONDS))               # the students' submit, done
    assert finished(*entry(0o777, QUIET_SECONDS))               # stock submit, done
    assert not finished(*entry(0o755, SETTLE_SECONDS - 1))      # no submit's last mode: wait ...
    assert finished(*entry(0o755, SETTLE_SECONDS))              # ... then take it as it is


def test_content_the_grader_cannot_read_is_quarantined_not_fatal(tmp_path, monkeypatch):
    """A student can hand in a folder the grader may list but not enter (the review found
    intake's PermissionError escaping the door: the entry vanished, and a restart looped on it)."""
    from autograder.classrun import intake
    from autograder.hub.inbound import Door, Entry

    def unreadable(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", "reproducibility/data")

    monkeypatch.setattr(intake, "read", unreadable)
    door = Door(tmp_path / "inbound", tmp_path / "grading", {ASSIGNMENT}, "nobody-group",
                intake.Limits(), log=lambda *_: None)
    entry = Entry("ann+reproducibility+2030-01-01 00:00:00.000000 UTC+abcdefghijkl", "ann", ASSIGNMENT,
                  "2030-01-01T00:00:00+00:00", os.getuid(), token="t0")
    (door.received / "t0" / ASSIGNMENT / "data").mkdir(parents=True)
    assert door.admit(entry) is None
    record = json.loads((tmp_path / "grading" / "quarantine.log").read_text().splitlines()[-1])
    assert "Permission denied" in record["reason"] and record["moved_to"].endswith("/t0")
    assert not (door.received / "t0").exists()              # a restart does not meet it again


def test_a_made_up_submission_time_is_replaced_by_the_folders_own(tmp_path):
    """nbgrader's name carries the time the student's side claims: a date far from when the folder
    was made (a future one would make any submission late on purpose) is replaced by its ctime."""
    import grp
    import pwd

    from autograder.hub.inbound import vet
    me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    for claimed, kept in (("2099-01-01 00:00:00.000000 UTC", False), ("2001-01-01 00:00:00.000000 UTC", False),
                          (datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC"), True)):
        name = f"{me}+{ASSIGNMENT}+{claimed}+abcdefghijkl"
        (tmp_path / name).mkdir()
        entry = vet(tmp_path, name, {ASSIGNMENT}, group)
        when = datetime.fromisoformat(entry.timestamp)
        made = datetime.fromtimestamp((tmp_path / name).stat().st_ctime, timezone.utc)
        assert (when.strftime("%Y-%m-%d %H:%M:%S.%f UTC") == claimed) is kept, (claimed, when)
        assert abs((when - made).total_seconds()) < 5


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: entries owned by two accounts (chown)")
def test_one_accounts_flood_is_looked_at_a_few_entries_a_round_and_delays_nobody(tmp_path):
    """The review found one student's thousands of inbound entries all looked at in one round
    before anyone else's: now at most ``entries_per_account`` of each owner per round."""
    from autograder.classrun import intake
    from autograder.hub.inbound import Door
    door = Door(tmp_path / "inbound", tmp_path / "grading", {ASSIGNMENT}, "nobody-group",
                intake.Limits(), log=lambda *_: None)
    door.inbound.mkdir()
    flood = [f"mal+{ASSIGNMENT}+2030-01-01 00:00:{i:02d}.000000 UTC+abcdefghij{i:02d}" for i in range(40)]
    for name in flood:
        (door.inbound / name).mkdir()
        os.chown(door.inbound / name, 4242, 4242)
    time.sleep(0.05)
    late_comer = f"ann+{ASSIGNMENT}+2030-01-01 00:01:00.000000 UTC+abcdefghijkl"
    (door.inbound / late_comer).mkdir()
    os.chown(door.inbound / late_comer, 4243, 4243)
    names = door.entries(5)
    assert names == flood[:5] + [late_comer]          # the oldest five of the flood, and ann's anyway
    assert door.entries(0) == []


def test_copies_no_grading_will_read_again_are_removed(tmp_path):
    """vetted/ and quarantine/ were never reclaimed (a flood filled the grader's disk): a vetted
    copy stays only while it may still be graded (or is the newest deferred one, or failed), and
    the newest few quarantined entries of each account."""
    from autograder.classrun import intake
    from autograder.hub.inbound import Door
    journal = attempts.Journal(tmp_path / "q.db")
    door = Door(tmp_path / "inbound", tmp_path / "grading", {ASSIGNMENT}, "nobody-group",
                intake.Limits(), log=lambda *_: None)
    states = {"ann-1": "released", "ann-2": "superseded", "ann-3": "received", "bob-1": "grading",
              "bob-2": "deferred", "bob-3": "deferred", "cy-1": "failed", "cy-2": "graded"}
    for token, state in states.items():
        student, minute = token.split("-")
        stamp = datetime(2030, 1, 1, 0, int(minute), tzinfo=timezone.utc).isoformat()
        journal.add(token, token, student, ASSIGNMENT, stamp, state)
        (door.vetted / token / ASSIGNMENT).mkdir(parents=True)
    (door.vetted / ".ann-4.tmp").mkdir()              # being written by admit: not the clean-up's
    for i in range(4):
        (door.quarantine / f"q{i}" / "inside").mkdir(parents=True)
        os.utime(door.quarantine / f"q{i}")
        time.sleep(0.02)
    removed = door.reclaim(journal.tokens_to_keep(), 2)
    assert sorted(os.listdir(door.vetted)) == [".ann-4.tmp", "ann-3", "bob-1", "bob-3", "cy-1"]
    assert sorted(os.listdir(door.quarantine)) == ["q2", "q3"]   # the newest two of this account
    assert removed == 4 + 2


def test_a_submission_taken_before_the_students_last_chmod_is_still_submitted(tmp_path, monkeypatch):
    """The rush found the service taking a submission between nbgrader's 0777 chmod (its last act
    in inbound: the folder is complete) and the students' submit's own 0770: the student's
    submit then failed with FileNotFoundError although the submission was in. It succeeds."""
    monkeypatch.syspath_prepend(str(ROOT / "hub" / "student" / "python"))
    import private_submit
    monkeypatch.setattr(private_submit.ExchangeSubmit, "copy_files", lambda self: None)  # then taken
    submit = private_submit.PrivateSubmit.__new__(private_submit.PrivateSubmit)
    submit.inbound_path = str(tmp_path)
    submit.assignment_filename = f"ann+{ASSIGNMENT}+2030-01-01 00:00:00.000000 UTC+abcdefghijkl"
    submit.copy_files()                       # gone from inbound: no error
    (tmp_path / submit.assignment_filename).mkdir(mode=0o777)
    submit.copy_files()                       # still there: made the students' 0770
    assert stat_mode(tmp_path / submit.assignment_filename) == 0o770


def stat_mode(path) -> int:
    import stat as modes
    return modes.S_IMODE(os.stat(path).st_mode)
