"""nbgrader's submit, leaving each submission to its student and the course's grader alone.

nbgrader 0.9.6 makes every submission folder in ``<exchange>/<course>/inbound`` mode 0777 (so that
the instructor can delete it): whoever learns its name can rename, replace or add files in it, e.g.
hand in a 0-point notebook as someone else's. :class:`PrivateSubmit` gives the submission's folders
mode 0770 (its files keep nbgrader's 0644): the student's and their group's, nothing for anyone
else, who cannot even reach the files. The folders' group is the grader's: nbgrader's
``release_assignment``, run by the grader account, makes ``inbound`` setgid (2733), so the folders
made in it belong to the grader's group, which can read, move and delete them. (Files written
after copying, ``timestamp.txt`` and ``submission_secret.txt``, get the student's own group:
copying resets the folder's setgid bit; the grader reads them as "other".) A submit into an
``inbound`` that is not setgid is refused with a message for the instructor.

Enabled by ``c.ExchangeFactory.submit = "private_submit.PrivateSubmit"`` in the students' nbgrader
config (hub/student/nbgrader_config.json, lab/exchange/nbgrader_config.py). Stands alone: the
students' servers hold nbgrader, no course code.
"""
import os
import stat

from nbgrader.exchange.default.submit import ExchangeSubmit

DIR_MODE = 0o770
FILE_MODE = 0o644


class PrivateSubmit(ExchangeSubmit):
    """``nbgrader submit`` whose submission only its student and the grader's group can touch."""

    def init_dest(self):
        super().init_dest()
        if not os.stat(self.inbound_path).st_mode & stat.S_ISGID:
            self.fail("The exchange's inbound folder {} is not set up for submissions (it must be "
                      "setgid to the grader's group, as `nbgrader release_assignment` makes it); "
                      "nothing was submitted: tell your instructor.".format(self.inbound_path))

    def set_perms(self, dest, fileperms, dirperms):
        super().set_perms(dest, FILE_MODE, DIR_MODE)

    def copy_files(self):
        super().copy_files()
        # nbgrader ends with chmod 0777 on the submission folder itself: undo it. The course's
        # grading service may have taken the folder already (it is complete by then: the 0777 is
        # nbgrader's last act in inbound), which the rush bench met under load: then it is out of
        # every student's reach anyway, and the submit succeeded.
        try:
            os.chmod(os.path.join(self.inbound_path, self.assignment_filename), DIR_MODE)
        except FileNotFoundError:
            pass
