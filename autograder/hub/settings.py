"""Every knob of the course's hub, in one place: ``c.CourseHub.<trait>`` in the course's
``nbgrader_config.py`` (read by ``make hub``, the hub's configuration and the grading service)."""
from pathlib import Path

from traitlets import Dict, Float, Integer, Unicode
from traitlets.config import Config, Configurable, PyFileConfigLoader


class CourseHub(Configurable):
    """Where the deployed course lives, who may log in, and how grading on submit behaves."""

    # -- listening -------------------------------------------------------------------------------
    ip = Unicode("127.0.0.1", help="Address the hub's public proxy listens on (every other "
                                   "listener stays on loopback).").tag(config=True)
    port = Integer(8000, help="Port of the hub's public proxy.").tag(config=True)
    hub_port = Integer(8081, help="Port of the hub itself (its API, on 127.0.0.1).").tag(config=True)
    proxy_api_port = Integer(8001, help="Port of the proxy's REST API (on 127.0.0.1).").tag(config=True)
    formgrader_port = Integer(8082, help="Port of the formgrader service (on 127.0.0.1).").tag(config=True)

    # -- who -------------------------------------------------------------------------------------
    student_group = Unicode("course-students", help="Unix group whose members log in as "
                                                    "students (created if missing).").tag(config=True)
    instructor_group = Unicode("course-instructors", help="Unix group whose members log in as "
                                                          "instructors (created if missing).").tag(config=True)
    grader_user = Unicode("course-grader", help="Unix account that owns the deployed course and "
                                                "runs formgrader and grading (created if "
                                                "missing).").tag(config=True)

    # -- where -----------------------------------------------------------------------------------
    course_root = Unicode("/srv/reproducible-ml", help="The deployed course (source, release, "
                                                       "gradebook, keys): the grader's, mode 0700.").tag(config=True)
    hub_state = Unicode("/var/lib/reproducible-ml-hub", help="The hub's database, cookie secret "
                                                             "and proxy token: root's, mode 0700.").tag(config=True)
    student_env = Unicode("/opt/reproducible-ml-student", help="The students' Python environment "
                                                               "and JupyterLab settings: readable by "
                                                               "all, holds no course files.").tag(config=True)
    exchange = Unicode("/srv/nbgrader/exchange", help="nbgrader's exchange folder.").tag(config=True)

    # -- servers ---------------------------------------------------------------------------------
    idle_timeout = Integer(1800, help="Seconds of inactivity before a server is culled.").tag(config=True)
    server_memory_mb = Integer(1024, help="Memory of one student's server and kernels together, "
                                          "MiB (a cgroup per student).").tag(config=True)
    server_processes = Integer(256, help="Processes + threads of one student's server and kernels "
                                         "together (a cgroup per student).").tag(config=True)

    # -- grading on submit -----------------------------------------------------------------------
    attempt_interval = Float(60.0, help="Seconds between two graded attempts of one student at one "
                                        "assignment; later submissions wait, the newest is "
                                        "graded.").tag(config=True)
    max_attempts = Integer(20, help="Graded attempts per student and assignment; submissions past "
                                    "it are kept but not graded until an instructor "
                                    "does.").tag(config=True)
    quiz_release = Dict(key_trait=Unicode(), value_trait=Unicode(),
                        help="{assignment: ISO 8601 time} after which quiz scores are shown in "
                             "feedback on submit; before it (or with no entry) only the "
                             "instructor's release shows them.").tag(config=True)


def course_config(course: Path) -> Config:
    """The traitlets config of the course's ``nbgrader_config.py`` in folder ``course``."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()


def load(course: Path) -> tuple:
    """``(CourseHub, course id)`` as the course's ``nbgrader_config.py`` in folder ``course`` sets them."""
    config = course_config(course)
    return CourseHub(config=config), config.CourseDirectory.get("course_id", "")


def as_dict(hub: CourseHub) -> dict:
    """Every trait's value, for the hub's generated settings file (JSON)."""
    return {name: getattr(hub, name) for name in hub.trait_names(config=True)}
