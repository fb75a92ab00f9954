import shutil
import subprocess

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


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    """A 1 GiB tmpfs for a hostile course: a regression fills it, not the machine's disk."""
    mount = tmp_path_factory.mktemp("tmpfs")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)
