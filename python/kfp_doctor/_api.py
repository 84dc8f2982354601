"""diagnose() and explain(): the binary run with the call on its stdin."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import traceback
from typing import Any, Dict, List, Optional, Union

from . import _binary, _client
from ._report import DoctorError, Report

# The doctor's own variables: with --client-config it reads none of them,
# and they are left out of its environment besides.
_DOCTOR_VARIABLES = ("KFP_DOCTOR_TOKEN", "KFP_DOCTOR_COOKIES", "KFP_DOCTOR_PASSWORD")

# The binary gets --timeout; this much more is allowed for it to start and
# write its report before it is stopped.
_GRACE = 10.0


def diagnose(
    client: Any = None,
    *,
    host: Optional[str] = None,
    namespace: Optional[str] = None,
    existing_token: Optional[str] = None,
    credentials: Any = None,
    cookies: Optional[str] = None,
    ssl_ca_cert: Optional[str] = None,
    verify_ssl: Optional[bool] = None,
    kube_context: Optional[str] = None,
    proxy: Optional[str] = None,
    timeout: float = 10.0,
    check_write: bool = False,
    strict: bool = False,
) -> Report:
    """Diagnose a kfp.Client, or the kfp.Client these keywords would make.

    ``diagnose(client)`` reads the live client's host, credentials (token,
    token file, a credentials object's token, cookies), namespace and TLS
    settings without sending anything; ``diagnose(host=…, existing_token=…,
    credentials=…, cookies=…, namespace=…)`` takes kfp.Client's own keywords,
    for when the constructor itself raises. ``kube_context`` (which a client
    does not keep) may come with either. The doctor then walks what the
    client walks — healthz, the deployment mode, listing experiments (and
    with ``check_write`` creating one and deleting it) — and names the first
    broken link with its catalogue id, a hint and a link.

    Secrets reach the binary on its stdin, never on a command line. Raises
    DoctorError when the doctor cannot run (bad arguments, in its words).
    """
    if isinstance(client, str):  # diagnose("http://localhost:3000"), as kfp.Client(host)
        client, host = None, client if host is None else host
    given = {k: v for k, v in locals().items() if k in _client.KEYWORDS and v is not None}
    if client is not None:
        others = sorted(set(given) - {"kube_context"})
        if others:
            raise TypeError(f"diagnose() takes a kfp.Client or kfp.Client's keywords, not both (got {', '.join(others)} besides the client)")
        call = _client.from_client(client, kube_context=kube_context)
        proxy = proxy or _client.client_proxy(client)
    else:
        call = _client.from_keywords(given)
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    args = ["--client-config", "-", "--timeout", f"{timeout:g}s"]
    if check_write:
        args.append("--check-write")
    if strict:
        args.append("--strict")
    env = {k: v for k, v in os.environ.items() if k not in _DOCTOR_VARIABLES}
    if proxy:
        # kfp.Client(proxy=…) sends every request through it.
        env["HTTP_PROXY"] = env["HTTPS_PROXY"] = proxy
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
    return _diagnosis(args, (json.dumps(call) + "\n").encode(), timeout + _GRACE, env)


def _diagnosis(args: List[str], stdin: bytes, timeout: float, env: Dict[str, str]) -> Report:
    """One run: the text on stdout, the JSON in a file of a private
    directory (0700, removed afterwards)."""
    tmp = tempfile.mkdtemp(prefix="kfp-doctor-")
    try:
        path = os.path.join(tmp, "report.json")
        res = _binary.run([*args, "-o", "text", "--json-file", path], stdin, timeout, env)
        text = res.stdout.decode("utf-8", "replace")
        # Exit 2 with a report is a run that checked nothing (KFD040):
        # still a report. Without one, the doctor refused the call.
        if not os.path.exists(path):
            raise DoctorError(_reason(res), res.returncode)
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return Report("diagnosis", data, text, res.returncode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _reason(res: Any) -> str:
    err = res.stderr.decode("utf-8", "replace").strip()
    if err.startswith("kfp-doctor: "):
        err = err[len("kfp-doctor: "):]
    return err or f"kfp-doctor ended with exit code {res.returncode} and no report"


def explain(error: Union[BaseException, str], *, timeout: float = 10.0) -> Report:
    """Name the failure catalogue's ids in an exception (with its traceback
    and chained causes) or in text (a traceback, a cell's output, KFP's
    reply), offline, as ``kfp-doctor explain``. ``report.ok`` is whether the
    text names a known failure."""
    if isinstance(error, BaseException):
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    elif isinstance(error, str):
        text = error
    else:
        raise TypeError(f"explain() takes an exception or a str, got {type(error).__name__}")
    stdin = text.encode("utf-8", "replace")
    env = dict(os.environ)
    args = ["explain", "--timeout", f"{timeout:g}s"]
    as_json = _binary.run([*args, "-o", "json"], stdin, timeout + _GRACE, env)
    if as_json.returncode not in (0, 1):
        raise DoctorError(_reason(as_json), as_json.returncode)
    as_text = _binary.run([*args, "-o", "text"], stdin, timeout + _GRACE, env)
    data = json.loads(as_json.stdout.decode("utf-8"))
    return Report("explanation", data, as_text.stdout.decode("utf-8", "replace"), as_json.returncode)
