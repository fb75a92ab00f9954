"""The course served to a class on a JupyterHub (docs/hub.md): the deployment (``make hub``), the
students' servers, and grading on submit. May import every other part of the grader."""
