"""Students' nbgrader settings for the Assignment List (fetch, submit, fetch feedback).

lab/run-lab.sh puts this folder first on Jupyter's config path when NBGRADER_EXCHANGE names the
course's exchange folder (for example a JupyterHub's shared volume); unset, nbgrader's default
exchange, /srv/nbgrader/exchange, applies. See docs/exchange.md.
"""
import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file
c.CourseDirectory.course_id = "reproducible-ml"
if os.environ.get("NBGRADER_EXCHANGE"):
    c.Exchange.root = os.environ["NBGRADER_EXCHANGE"]
