import shutil

import pytest

from support import make_course


@pytest.fixture(scope="session")
def course_template(tmp_path_factory):
    """A generated course, built once per session."""
    return make_course(tmp_path_factory.mktemp("template") / "course")


@pytest.fixture
def course(course_template, tmp_path):
    """A fresh copy of the generated course (gradebook included) for one test."""
    return shutil.copytree(course_template, tmp_path / "course")
