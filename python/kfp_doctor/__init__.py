"""kfp-doctor in Python: what is broken between a kfp.Client and Kubeflow Pipelines.

    import kfp, kfp_doctor
    kfp_doctor.diagnose(kfp.Client(host="http://localhost:3000", namespace="my-profile"))

The diagnosis is the kfp-doctor binary this package ships (it is on PATH as
``kfp-doctor`` too). :func:`diagnose` reads the client's host, credentials,
namespace and TLS settings back from the object without sending anything and
hands them to the binary on its stdin, never on a command line;
:func:`explain` names the failure catalogue's ids in an exception or a pasted
error. Both return a :class:`Report`. Only the standard library is used.
"""

from ._api import diagnose, explain
from ._binary import find_binary
from ._report import DoctorError, Report

__all__ = ["diagnose", "explain", "find_binary", "Report", "DoctorError", "__version__"]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("kfp-doctor")
    except Exception:  # not installed as a distribution (a source checkout)
        return "0+unknown"


__version__ = _version()
