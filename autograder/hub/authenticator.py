"""Who logs in: unix accounts through PAM, in the course's student or instructor group.

JupyterHub's PAMAuthenticator checks the password and ``allowed_groups``; this subclass also puts
a member of ``CourseHub.instructor_group`` into the hub group of that name at each login (and takes
a former one out), so the role that reaches formgrader follows the unix group.
"""
import grp
import os
import pwd

from jupyterhub.auth import PAMAuthenticator
from jupyterhub.utils import maybe_future
from traitlets import Unicode


def in_group(username: str, group: str) -> bool:
    """Whether unix user ``username`` is in ``group`` (primary or supplementary)."""
    try:
        gid, user = grp.getgrnam(group).gr_gid, pwd.getpwnam(username)
    except KeyError:
        return False
    return gid in os.getgrouplist(username, user.pw_gid)


class CourseAuthenticator(PAMAuthenticator):
    """PAM login; the instructor group mirrored into the hub's groups."""

    instructor_group = Unicode("course-instructors", help="CourseHub.instructor_group").tag(config=True)

    async def authenticate(self, handler, data):
        name = await maybe_future(super().authenticate(handler, data))
        if not name:
            return None
        return {"name": name,
                "groups": [self.instructor_group] if in_group(name, self.instructor_group) else []}
