"""Students' nbgrader settings for the Assignment List (fetch, submit, fetch feedback).

lab/run-lab.sh puts this folder first on Jupyter's config path when NBGRADER_EXCHANGE names the
course's exchange folder (for example a JupyterHub's shared volume); unset, nbgrader's default
exchange, /srv/nbgrader/exchange, applies. See docs/exchange.md.
"""
import os
import sys

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file
c.CourseDirectory.course_id = "reproducible-ml"
if os.environ.get("NBGRADER_EXCHANGE"):
    c.Exchange.root = os.environ["NBGRADER_EXCHANGE"]

# Submissions private to their student and the grader (hub/student/python/private_submit.py). The
# hub puts that folder on PYTHONPATH and sets this in hub/student/nbgrader_config.json; `make lab`
# in the course repository finds it beside lab/.
HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hub", "student", "python")
if os.path.isdir(HELPERS):
    sys.path.insert(0, os.path.normpath(HELPERS))
    c.ExchangeFactory.submit = "private_submit.PrivateSubmit"
