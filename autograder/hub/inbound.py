"""The door of grading on submit: what may come in from nbgrader's ``<exchange>/<course>/inbound``.

An entry is taken (:func:`vet`) only when

- its name is nbgrader's ``<student>+<assignment>+<timestamp>+<random>`` (``nbgrader submit``,
  ``ExchangeSubmit.add_random_string``): a valid student id (:data:`intake.STUDENT_ID`), an
  assignment of the course that is released in the exchange, a timestamp nbgrader can parse, and
  nbgrader's 12 random URL-safe base64 characters;
- the entry itself (``os.lstat``: a link is never followed) is a directory owned by the uid of the
  unix account ``<student>``, a member of ``CourseHub.student_group``.

An entry is taken only once ``nbgrader submit`` is done with it (:func:`finished`: its folder has
the mode submit sets last, 0770 or 0777, unchanged for a few seconds); until then it is looked at
again each round. A taken entry is renamed at once out of ``inbound`` into the grader's staging (0700), so no other
account can reach it after it was vetted; there its content is checked by the course's intake
(:mod:`autograder.classrun.intake`: no links, devices or FIFOs, the size limits) plus one more
rule, every file and folder owned by the student, and copied into a grader-owned folder. Anything
else is moved to the quarantine folder (grader-only; in place in ``inbound`` as ``.quarantined-*``
when the entry cannot be moved) with one JSON line in ``quarantine.log`` saying why; it is never
graded as anyone.

The time a submission is graded at (lateness) is its name's timestamp, unless that claims to be
more than :data:`CLOCK_SKEW` seconds earlier or later than the entry's ``st_ctime`` (which the
student can only move later: any chmod or rename sets it to now); then it is the ``st_ctime`` (so no
made-up date buys lateness on purpose, e.g. to read a withheld quiz score off a late penalty).
"""
import grp
import json
import os
import pwd
import re
import shutil
import stat
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from ..classrun import intake

RANDOM = re.compile(r"[A-Za-z0-9_-]{12}")     # base64.urlsafe_b64encode(os.urandom(9))
CLOCK_SKEW = 120.0                            # seconds a claimed timestamp may precede st_ctime
# When nbgrader submit is done with an entry: its last act is a chmod of the folder to 0777 (stock)
# or 0770 (the students' submit, hub/student/python/private_submit.py), after every file is written.
FINISHED_MODES = (0o770, 0o777)
QUIET_SECONDS = 3.0                           # ... and the folder unchanged this long since
SETTLE_SECONDS = 60.0                         # any other entry is taken once unchanged this long
QUARANTINED_PREFIX = ".quarantined-"          # an entry that could not leave inbound
STAGED_INFO = "entry.json"                    # beside a staged entry: who and what it is


@dataclass
class Entry:
    """A vetted inbound entry: who, what, when (UTC ISO 8601), and its staging token."""
    name: str
    student: str
    assignment: str
    timestamp: str
    uid: int
    token: str = ""


class Refused(Exception):
    """Not to be graded; the message says why (for the quarantine log)."""


def parse_name(name: str, assignments) -> tuple:
    """(student, assignment, timestamp text, random) of nbgrader's submission name; Refused else."""
    parts = name.split("+")
    if len(parts) != 4:
        raise Refused("name is not nbgrader's <student>+<assignment>+<timestamp>+<random>")
    student, assignment, stamp, random = parts
    reason = intake.check_student_id(student.encode("utf-8", "surrogateescape"))
    if reason:
        raise Refused(f"student id: {reason}")
    if assignment not in assignments:
        raise Refused(f"assignment {assignment!r} is not a released assignment of the course")
    if not RANDOM.fullmatch(random):
        raise Refused("the random part is not nbgrader's")
    from nbgrader.utils import parse_utc
    try:
        parse_utc(stamp)
    except (ValueError, OverflowError, TypeError):
        raise Refused(f"timestamp {stamp!r} cannot be parsed") from None
    return student, assignment, stamp, random


def member(account: pwd.struct_passwd, group: str) -> bool:
    """True when ``account`` is in the unix group ``group`` (primary or supplementary)."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return False
    return gid in os.getgrouplist(account.pw_name, account.pw_gid)


def vet(inbound: Path, name: str, assignments, student_group: str) -> Entry:
    """The :class:`Entry` of ``inbound/name`` if it may be taken; :class:`Refused` else."""
    student, assignment, stamp, _ = parse_name(name, assignments)
    try:
        st = os.lstat(inbound / name)
    except FileNotFoundError:
        raise Refused("vanished before it was vetted") from None
    if not stat.S_ISDIR(st.st_mode):
        raise Refused("not a directory (a link, file or other)")
    try:
        account = pwd.getpwnam(student)
    except KeyError:
        raise Refused(f"no unix account {student!r}") from None
    if st.st_uid != account.pw_uid:
        raise Refused(f"owned by uid {st.st_uid}, not by {student!r} (uid {account.pw_uid})")
    if not member(account, student_group):
        raise Refused(f"{student!r} is not in the group {student_group!r}")
    from nbgrader.utils import parse_utc
    claimed = parse_utc(stamp)
    claimed = claimed.replace(tzinfo=timezone.utc) if claimed.tzinfo is None else claimed.astimezone(timezone.utc)
    changed = datetime.fromtimestamp(st.st_ctime, timezone.utc)
    skew = timedelta(seconds=CLOCK_SKEW)
    when = claimed if changed - skew <= claimed <= changed + skew else changed
    return Entry(name, student, assignment, when.isoformat(), account.pw_uid)


def finished(st: os.stat_result, now: float) -> bool:
    """Whether nbgrader submit is done with the inbound entry whose ``lstat`` is ``st``: its folder
    has the mode submit leaves last and has not changed for :data:`QUIET_SECONDS`, or it has not
    changed for :data:`SETTLE_SECONDS` (taken as it is). Taking it earlier takes a half-copied
    submission and fails the student's submit."""
    quiet = now - st.st_ctime
    return quiet >= SETTLE_SECONDS or (stat.S_IMODE(st.st_mode) in FINISHED_MODES and quiet >= QUIET_SECONDS)


class Door:
    """Moves entries out of ``inbound``: into ``staging`` when vetted, else into ``quarantine``."""

    def __init__(self, inbound: Path, grading: Path, assignments, student_group: str, limits: intake.Limits,
                 log=print):
        self.inbound, self.assignments, self.group, self.limits, self.log = \
            Path(inbound), set(assignments), student_group, limits, log
        self.received = grading / "received"     # a taken entry, as the student made it
        self.vetted = grading / "vetted"         # its content, checked, copied, grader-owned
        self.quarantine = grading / "quarantine"
        self.quarantine_log = grading / "quarantine.log"
        for folder in (grading, self.received, self.vetted, self.quarantine):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        self.seen_stuck = set()                  # refused entries that could not be moved
        self.refused = []                        # quarantine records not yet journaled
        self.protected = False                   # protect_inbound has looked at inbound

    def protect_inbound(self) -> str:
        """Set the sticky bit on ``inbound`` (so no student can rename or delete another's entry)
        when this account owns it; what was done, for the log (None: nothing to do)."""
        try:
            st = os.stat(self.inbound)
        except FileNotFoundError:
            return None  # no assignment released yet; looked at again every round
        if st.st_mode & stat.S_ISVTX:
            self.protected = True
            return f"{self.inbound} is sticky (mode {stat.S_IMODE(st.st_mode):o})"
        self.protected = True  # said once
        if st.st_uid != os.geteuid():
            return (f"WARNING {self.inbound} is not sticky and owned by uid {st.st_uid}, not this "
                    f"account: run chmod +t {self.inbound}")
        os.chmod(self.inbound, stat.S_IMODE(st.st_mode) | stat.S_ISVTX)
        return f"{self.inbound}: sticky bit set (mode {stat.S_IMODE(st.st_mode) | stat.S_ISVTX:o})"

    def entries(self, per_account: int) -> list:
        """The names in ``inbound`` to look at this round (not those this service parked there),
        oldest first, at most ``per_account`` of each owner (the rest wait for the next round: one
        account's flood of entries delays nobody else's)."""
        try:
            found = list(os.scandir(self.inbound))
        except FileNotFoundError:
            return []
        stats = {}
        for e in found:
            if not e.name.startswith(QUARANTINED_PREFIX) and e.name not in self.seen_stuck:
                try:
                    stats[e.name] = e.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone already
        taken, names = {}, []
        for name in sorted(stats, key=lambda n: (stats[n].st_ctime, n)):
            owner = stats[name].st_uid
            if taken.get(owner, 0) < per_account:
                taken[owner] = taken.get(owner, 0) + 1
                names.append(name)
        return names

    def take(self, name: str) -> Optional[Entry]:
        """Vet ``inbound/name`` and move it: the Entry, staged (token set), or None (quarantined, or
        not finished yet: looked at again next round)."""
        try:
            entry = vet(self.inbound, name, self.assignments, self.group)
        except Refused as why:
            self.refuse(self.inbound / name, name, str(why))
            return None
        try:
            if not finished(os.lstat(self.inbound / name), time.time()):
                return None     # nbgrader submit may still be writing it (seen under a 200-student rush)
        except FileNotFoundError:
            return None
        token = uuid.uuid4().hex
        box = self.received / token
        box.mkdir(mode=0o700)
        (box / STAGED_INFO).write_text(json.dumps(entry.__dict__ | {"token": token}), encoding="utf-8")
        try:
            os.rename(self.inbound / name, box / entry.assignment)
        except OSError as exc:
            shutil.rmtree(box)
            self.refuse(self.inbound / name, name, f"cannot be moved out of inbound ({exc.strerror}): "
                                                   "not a folder nbgrader submit made")
            return None
        entry.token = token
        return entry

    def staged(self) -> list:
        """Entries taken but not yet admitted (a restart finds them here)."""
        found = []
        for box in sorted(self.received.iterdir()):
            info = box / STAGED_INFO
            try:
                entry = Entry(**json.loads(info.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                shutil.rmtree(box, ignore_errors=True)  # killed before the rename: still in inbound
                continue
            if not (box / entry.assignment).exists():
                shutil.rmtree(box, ignore_errors=True)
                continue
            found.append(entry)
        return found

    def admit(self, entry: Entry) -> Optional[Path]:
        """Check a staged entry's content and copy it into ``vetted/<token>`` (grader-owned): that
        folder, or None (quarantined)."""
        box = self.received / entry.token
        try:
            read = intake.read(self.received, entry.token.encode(), entry.assignment, self.limits)
            if not read.ok:
                raise Refused(f"intake: {read.rule}: {read.detail}")
            owned_by(box / entry.assignment, entry.uid)  # after intake: a bounded tree
        except (Refused, OSError) as why:  # OSError: e.g. a folder the student made unreadable
            self.refuse(box / entry.assignment, entry.name, str(why), token=entry.token)
            shutil.rmtree(box, ignore_errors=True)
            return None
        target = self.vetted / entry.token
        tmp = self.vetted / f".{entry.token}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for rel, data in read.files.items():
            path = tmp / rel
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.write_bytes(data)
        tmp.mkdir(mode=0o700, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
        return target

    def reclaim(self, keep: set, quarantined_per_account: int) -> int:
        """Remove the vetted copies whose token is not in ``keep``, and all but the newest
        ``quarantined_per_account`` quarantined entries of each owner (the log keeps every
        record); what the grader cannot remove stays. Returns how many were removed."""
        removed = 0
        for name in os.listdir(self.vetted):
            if not name.startswith(".") and name not in keep:
                shutil.rmtree(self.vetted / name, ignore_errors=True)
                removed += 1
        owners = {}
        for item in os.scandir(self.quarantine):
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            owners.setdefault(st.st_uid, []).append((st.st_ctime, item.name))
        for found in owners.values():
            for _, name in sorted(found)[:-quarantined_per_account or None]:
                path = self.quarantine / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed += 1
        return removed

    def discard(self, entry: Entry) -> None:
        """Drop the student's original of an admitted entry (what cannot be removed stays, grader-only)."""
        shutil.rmtree(self.received / entry.token, ignore_errors=True)

    def refuse(self, path: Path, name: str, reason: str, token: str = None) -> None:
        """Move ``path`` to the quarantine folder and log why; never graded."""
        token = token or uuid.uuid4().hex
        where = self.quarantine / token
        try:
            os.rename(path, where)
        except FileNotFoundError:
            where = None
        except OSError:  # a folder without write permission cannot change parent: park it in place
            where = self.inbound / (QUARANTINED_PREFIX + token)
            try:
                os.rename(path, where)
            except OSError as exc:
                where = None
                self.seen_stuck.add(name)
                reason += f" (and it could not be moved: {exc.strerror})"
        try:
            owner = os.lstat(where).st_uid if where else None
        except OSError:
            owner = None
        name = intake.shown_name(os.fsencode(name))  # a name that is not UTF-8, escaped
        record = {"time": datetime.now(timezone.utc).isoformat(), "name": name, "reason": reason,
                  "owner_uid": owner, "moved_to": str(where) if where else None}
        with open(self.quarantine_log, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        self.refused.append(dict(record, token=token))
        self.log(f"quarantined {name!r}: {reason}")


def owned_by(folder: Path, uid: int) -> None:
    """Refused unless every file and folder under ``folder`` (not following links) belongs to ``uid``."""
    for root, dirs, files in os.walk(folder):
        for item in [root, *(os.path.join(root, n) for n in dirs + files)]:
            owner = os.lstat(item).st_uid
            if owner != uid:
                raise Refused(f"{os.path.relpath(item, folder)} is owned by uid {owner}, not the student's")
