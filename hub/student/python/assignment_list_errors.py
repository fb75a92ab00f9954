"""The Assignment List's Fetch, Fetch Feedback and Submit tell the student when they fail.

nbgrader 0.9.6's handler of ``POST /assignments/fetch`` and ``/assignments/fetch_feedback``
ignores the outcome and answers with the assignment list as it was, so the panel shows nothing
wrong; a failing submit answers with a Python traceback. This Jupyter server extension answers
those three routes itself: on failure ``{"success": false, "value": "<what failed, in a
sentence>"}``, which nbgrader's JupyterLab panel shows (in the assignment lists for a fetch, in its
"Invalid Submission" dialog for a submit); on success the refreshed list, as nbgrader does.

It stands alone (the students' servers hold nbgrader, no course code) and is enabled by
``jupyter_server_config.d/assignment_list_errors.json``. Jupyter loads extensions in name order
and tornado matches routes in the order they were added, so these routes answer before
nbgrader's ``assignment_list`` ones, which keep serving the list itself.
"""
import json

from jupyter_server.utils import url_path_join
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange import ExchangeFactory
from nbgrader.server_extensions.assignment_list.handlers import AssignmentList, BaseAssignmentHandler
from tornado import web

SETTING = "assignment_list_errors"
ACTIONS = {  # route -> (ExchangeFactory method, what the student asked for)
    "fetch": ("FetchAssignment", "fetch"),
    "fetch_feedback": ("FetchFeedback", "fetch the feedback of"),
    "submit": ("Submit", "submit"),
}
ADVICE = "Try again in a minute; if it keeps failing, tell your instructor."


class ExchangeActions(AssignmentList):
    """nbgrader's exchange actions, run as its Assignment List runs them, failing out loud."""

    def run(self, action: str, course_id: str, assignment_id: str):
        """None when done, else the sentence the student sees."""
        factory, asked = ACTIONS[action]
        try:
            with self.get_assignment_dir_config():
                try:
                    config = self.load_config()
                    config.CourseDirectory.course_id = course_id
                    config.CourseDirectory.assignment_id = assignment_id
                    exchange = getattr(ExchangeFactory(config=config), factory)(
                        coursedir=CourseDirectory(config=config),
                        authenticator=Authenticator(config=config), config=config)
                    exchange.start()
                except Exception as exc:
                    return self.failed(asked, assignment_id, exc)
        except Exception as exc:  # the configuration itself could not be read
            return self.failed(asked, assignment_id, exc)
        return None

    def failed(self, asked: str, assignment_id: str, exc: Exception) -> str:
        self.log.exception("Assignment List: could not %s %s", asked, assignment_id)
        reason = str(exc).strip() or type(exc).__name__
        return f"Could not {asked} {assignment_id!r}: {reason}\n{ADVICE}"


class ActionHandler(BaseAssignmentHandler):
    """POST /assignments/<fetch|fetch_feedback|submit>: the list when done, the reason when not."""

    @web.authenticated
    def post(self, action):
        try:
            course_id, assignment_id = self.get_argument("course_id"), self.get_argument("assignment_id")
        except web.MissingArgumentError:
            data = self.get_json_body() or {}
            course_id, assignment_id = data.get("course_id"), data.get("assignment_id")
        if not course_id or not assignment_id:
            raise web.HTTPError(400, "course_id and assignment_id are required")
        actions = self.settings[SETTING]
        failure = actions.run(action, course_id, assignment_id)
        if failure:
            self.finish(json.dumps({"success": False, "value": failure}))
        else:
            self.finish(json.dumps(actions.list_assignments(course_id=course_id)))


def _jupyter_server_extension_points():
    return [{"module": "assignment_list_errors"}]


def _load_jupyter_server_extension(serverapp):
    webapp = serverapp.web_app
    if "assignment_list_manager" in webapp.settings:  # nbgrader's routes were added first
        raise RuntimeError("assignment_list_errors must load before "
                           "nbgrader.server_extensions.assignment_list (extensions load in name order)")
    actions = ExchangeActions(parent=serverapp)
    actions.root_dir = serverapp.root_dir
    webapp.settings[SETTING] = actions
    route = url_path_join(webapp.settings["base_url"], r"/assignments/(?P<action>%s)" % "|".join(ACTIONS))
    webapp.add_handlers(".*$", [(route, ActionHandler)])
    serverapp.log.info("assignment_list_errors: Fetch, Fetch Feedback and Submit report failures")
