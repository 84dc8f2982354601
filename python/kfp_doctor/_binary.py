"""Finding the kfp-doctor binary the wheel installed, and running it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from typing import Dict, List, Optional, Sequence

from ._report import DoctorError

# KFP_DOCTOR_BINARY names another binary (a development build).
BINARY_ENV = "KFP_DOCTOR_BINARY"

_NAME = "kfp-doctor.exe" if sys.platform == "win32" else "kfp-doctor"


def _script_dirs() -> List[str]:
    """Where pip puts a wheel's scripts: the environment's own, then the
    user scheme's (pip install --user), as ruff and uv look for theirs."""
    dirs = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    try:
        user = sysconfig.get_preferred_scheme("user")  # Python >= 3.10
    except AttributeError:
        user = "nt_user" if os.name == "nt" else "posix_user"
    try:
        dirs.append(sysconfig.get_path("scripts", scheme=user))
    except KeyError:
        pass
    return [d for d in dirs if d]


def find_binary() -> str:
    """The path of the kfp-doctor binary this package runs.

    $KFP_DOCTOR_BINARY if set; else the one pip installed beside this Python
    (the environment's scripts directory, then the user scheme's); else the
    first ``kfp-doctor`` on PATH.
    """
    given = os.environ.get(BINARY_ENV)
    if given:
        if not os.access(given, os.X_OK):
            raise DoctorError(f"${BINARY_ENV}={given} is not an executable file")
        return given
    for d in _script_dirs():
        p = os.path.join(d, _NAME)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    found = shutil.which(_NAME)
    if found:
        return found
    raise DoctorError(
        "the kfp-doctor binary is not installed beside this Python "
        f"(looked in {', '.join(_script_dirs())} and on PATH): reinstall with "
        "`pip install --force-reinstall kfp-doctor`, or set $" + BINARY_ENV
    )


def run(args: Sequence[str], stdin: bytes, timeout: float, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Runs the binary with args, stdin as its input; stops it after timeout
    seconds. Secrets go on stdin only: args are visible in the process list."""
    child_env = dict(os.environ if env is None else env)
    child_env["NO_COLOR"] = "1"
    try:
        return subprocess.run(
            [find_binary(), *args],
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DoctorError(f"kfp-doctor did not finish within {timeout:g}s and was stopped") from None
    except OSError as e:
        raise DoctorError(f"kfp-doctor could not be started: {e}") from None
