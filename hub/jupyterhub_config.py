"""The course's JupyterHub (docs/hub.md). ``make hub`` copies this file into CourseHub.hub_state
beside ``coursehub.json``, the CourseHub settings it resolved from the course's
``nbgrader_config.py``, and runs ``jupyterhub -f`` on the copy; nothing here is a knob of its own."""
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file
state = Path(__file__).resolve().parent
hub = json.loads((state / "coursehub.json").read_text())
course_id, root = hub["course_id"], Path(hub["course_root"])
grader_env = hub["grader_env"]   # autograder/hub/deploy.py, grader_environment

# -- listeners: the public proxy where configured, everything else on loopback ---------------------
c.JupyterHub.bind_url = f"http://{hub['ip']}:{hub['port']}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = hub["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [hub["proxy_command"]]
c.ConfigurableHTTPProxy.auth_token = (state / "proxy_auth_token").read_text().strip()
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")

# -- state: root's, mode 0700 (make hub), files 0600 (umask 077) -----------------------------------
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")

# -- who: unix accounts in the student or instructor group -----------------------------------------
c.JupyterHub.authenticator_class = "autograder.hub.authenticator.CourseAuthenticator"
c.PAMAuthenticator.allowed_groups = {hub["student_group"], hub["instructor_group"]}
c.CourseAuthenticator.instructor_group = hub["instructor_group"]
c.Authenticator.manage_groups = True
c.Authenticator.delete_invalid_users = True

# -- the students' servers -------------------------------------------------------------------------
c.JupyterHub.spawner_class = "autograder.hub.spawner.CourseSpawner"
c.Spawner.cmd = [str(Path(hub["student_env"]) / "venv" / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.CourseSpawner.student_env = hub["student_env"]
c.CourseSpawner.student_python = hub["student_python"]
c.CourseSpawner.exchange = hub["exchange"]
c.CourseSpawner.memory_mb = hub["server_memory_mb"]
c.CourseSpawner.processes = hub["server_processes"]

# -- services --------------------------------------------------------------------------------------
# formgrader, nbgrader's shared-grader pattern: a Jupyter server of the grader account, named by the
# course id, reachable by the instructor group only.
services = [{
    "name": course_id,
    "url": f"http://127.0.0.1:{hub['formgrader_port']}",
    "command": [str(root / "venv" / "bin" / "jupyterhub-singleuser")],
    "user": hub["grader_user"],
    "cwd": str(root / "course"),
    "environment": {**grader_env, "JUPYTERHUB_DEFAULT_URL": "/lab"},
    "oauth_no_confirm": True,
}, {
    "name": "idle-culler",
    "command": [str(Path(hub["hub_venv"]) / "bin" / "python"), "-m", "jupyterhub_idle_culler",
                f"--timeout={hub['idle_timeout']}"],
}, {
    # Grading on submit (docs/hub.md); the hub restarts it when it dies.
    "name": "grading",
    "command": [str(root / "venv" / "bin" / "python"), "-m", "autograder.hub.grading_service"],
    "user": hub["grader_user"],
    "cwd": str(root / "course"),
    "environment": grader_env,
}]
c.JupyterHub.services = services

c.JupyterHub.load_roles = [
    {"name": f"formgrade-{course_id}", "groups": [hub["instructor_group"]],
     "scopes": [f"access:services!service={course_id}", "list:services",
                f"read:services!service={course_id}"]},
    {"name": "idle-culler", "services": ["idle-culler"],
     "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
]
