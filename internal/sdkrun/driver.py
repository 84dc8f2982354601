"""Runs the real KFP SDK as a path's user would, one case per line of stdin.

Each line is a JSON case; each answer a JSON line on stdout. The driver
imports kfp once and forks a child per case, so that every case starts from
a fresh process state (its environment, its HOME, the SDK's module-level
paths) without paying the SDK's import again; a child the SDK never lets
finish is killed at the case's bound and reported as hung. The child:

  1. builds kfp.Client(**kwargs) — the documented constructor, with
     existing_token read from a file as `kubectl create token` writes it and
     credentials=ServiceAccountTokenVolumeCredentials(...) when asked;
  2. with "diagnose", runs kfp_doctor.diagnose(client) (or, when the
     constructor raised, diagnose(**kwargs)) and returns its report;
  3. calls list_experiments(), and with "write" create_experiment() and
     delete_experiment(), as the user goes on.

For a client that lives in a pod (emulated, as the doctor is on kwok) the
case names where the pod's files are and how cluster names are reached: the
SDK's fixed paths (its ServiceAccount namespace file and token path,
load_incluster_config's token and CA) are pointed there and urllib3's
connections to a cluster name go to a local forwarder.
"""

import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
import uuid
import warnings

warnings.simplefilter("ignore")

import kfp  # noqa: E402  (imported once, before any fork)
import kfp_server_api  # noqa: E402
from kfp.client import client as kfp_client_module  # noqa: E402


def emit(fd, obj):
    os.write(fd, (json.dumps(obj) + "\n").encode())


def first_line(s, limit=400):
    s = (s or "").strip().splitlines()
    return s[0][:limit] if s else ""


def kfp_code(body):
    try:
        code = json.loads(body).get("code")
        return code if isinstance(code, int) else None
    except Exception:
        return None


def enter_pod(pod):
    """Points the SDK's fixed pod paths at the emulated pod's files, and
    cluster names at local forwarders."""
    import kfp.client as kfp_client_pkg
    import kubernetes.config.incluster_config as incluster

    sa = pod["sa_dir"]
    kfp_client_module.Client._NAMESPACE_PATH = os.path.join(sa, "namespace")
    kfp_client_pkg.KF_PIPELINES_SA_TOKEN_PATH = pod["token_default"]
    incluster.SERVICE_TOKEN_FILENAME = os.path.join(sa, "token")
    incluster.SERVICE_CERT_FILENAME = os.path.join(sa, "ca.crt")
    dial = pod.get("dial") or {}
    if dial:
        import urllib3.util.connection as conn

        real = conn.create_connection

        def create_connection(address, *args, **kwargs):
            host, port = address
            to = dial.get(f"{host}:{port}")
            if to:
                h, p = to.rsplit(":", 1)
                address = (h, int(p))
            return real(address, *args, **kwargs)

        conn.create_connection = create_connection


class ShortSleeps:
    """The time module as kfp.client sees it, but its own retry sleeps (the
    healthz loop's five seconds between attempts) last at most cap seconds:
    the same requests in the same order, sooner."""

    def __init__(self, cap):
        self.cap = cap
        self.shortened = 0

    def sleep(self, seconds):
        if seconds > self.cap:
            self.shortened += 1
        time.sleep(min(seconds, self.cap))

    def __getattr__(self, name):
        return getattr(time, name)


def run_case(case, out_fd):
    if not case.get("keep_env"):  # in a pod the environment is the pod's own
        os.environ.clear()
        os.environ.update(case.get("env") or {})
    # What the SDK and the kubernetes package read from the environment when
    # they were imported, read again for this case's environment.
    kfp_client_module.Client._LOCAL_KFP_CONTEXT = os.path.expanduser("~/.config/kfp/context.json")
    if case.get("context_file"):
        # The user's own context.json, in a home the SDK can write to (it
        # stores the namespace there), as a mounted file could not be.
        os.makedirs(os.path.dirname(kfp_client_module.Client._LOCAL_KFP_CONTEXT), exist_ok=True)
        shutil.copyfile(case["context_file"], kfp_client_module.Client._LOCAL_KFP_CONTEXT)
    try:
        import kubernetes.config.kube_config as kube_config

        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = os.environ.get("KUBECONFIG", "~/.kube/config")
    except ImportError:
        pass
    if case.get("pod"):
        enter_pod(case["pod"])
    short = None
    if case.get("retry_sleep_s"):
        short = kfp_client_module.time = ShortSleeps(float(case["retry_sleep_s"]))

    kwargs = dict(case.get("kwargs") or {})
    if case.get("existing_token_file"):
        with open(case["existing_token_file"]) as f:
            kwargs["existing_token"] = f.read().strip()
    if case.get("credentials") is not None:
        from kfp.client import set_volume_credentials

        kwargs["credentials"] = set_volume_credentials.ServiceAccountTokenVolumeCredentials(path=case["credentials"].get("path") or None)

    res = {"result": "ok", "stage": "", "elapsed_s": 0.0}
    elapsed = 0.0
    client = None
    stage = "constructor"
    emit(out_fd, {"stage": stage})
    t0 = time.monotonic()
    try:
        client = kfp.Client(**kwargs)
    except BaseException as e:
        raised(res, stage, e)
    elapsed += time.monotonic() - t0

    if case.get("diagnose"):
        emit(out_fd, {"stage": "diagnose"})
        res["diagnosis"] = diagnose(client, kwargs, bool(case.get("write")))

    if client is not None:
        emit(out_fd, {"stage": "list_experiments"})
        t0 = time.monotonic()
        try:
            stage = "list_experiments"
            listed = client.list_experiments()
            res["listed"] = len(listed.experiments or [])
            if case.get("write"):
                stage = "create_experiment"
                exp = client.create_experiment(name="kfp-connect-sdk-" + uuid.uuid4().hex[:8])
                stage = "delete_experiment"
                client.delete_experiment(exp.experiment_id)
        except BaseException as e:
            raised(res, stage, e)
        elapsed += time.monotonic() - t0
    res["elapsed_s"] = elapsed
    if short and short.shortened:
        res.update(retry_sleeps_shortened=short.shortened, retry_sleep_s=short.cap)
    return res


def raised(res, stage, e):
    res.update(result="raised", stage=stage, exception=f"{type(e).__module__}.{type(e).__qualname__}", message=first_line(str(e)))
    if isinstance(e, kfp_server_api.ApiException):
        res["http_status"] = e.status or 0
        code = kfp_code(e.body)
        if code is not None:
            res["kfp_code"] = code


def diagnose(client, kwargs, check_write):
    """kfp_doctor.diagnose on the client as built (or on its keywords when
    the constructor raised), going on to the write check where the case
    writes."""
    try:
        import kfp_doctor
    except ImportError as e:
        return {"error": f"kfp_doctor is not installed: {e}"}
    try:
        if client is not None:
            rep = kfp_doctor.diagnose(client, check_write=check_write)
        else:
            from kfp_doctor._client import KEYWORDS

            rep = kfp_doctor.diagnose(check_write=check_write, **{k: v for k, v in kwargs.items() if k in KEYWORDS})
        return {"json": rep.json, "text": str(rep), "html": rep._repr_html_()}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def run_in_child(case):
    """Forks; the child runs the case and writes stage lines and its result
    to a pipe. The parent waits, resetting the bound at each stage that
    has one of its own, and kills the child when a bound passes."""
    bound = float(case.get("bound_s") or 60)
    diagnose_bound = float(case.get("diagnose_bound_s") or 40)
    r, w = os.pipe()
    log = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            res = run_case(case, w)
        except BaseException:
            res = {"result": "error", "message": first_line(traceback.format_exc().strip().splitlines()[-1])}
        emit(w, {"done": res})
        os._exit(0)
    os.close(w)
    buf, stage, done = b"", "constructor", None
    deadline = time.monotonic() + bound
    # The SDK's own time: every stage but the doctor's.
    stage_started, sdk_time = time.monotonic(), 0.0
    while done is None:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([r], [], [], left)
        if not ready:
            continue
        chunk = os.read(r, 65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            msg = json.loads(line)
            if "done" in msg:
                done = msg["done"]
            elif "stage" in msg:
                now = time.monotonic()
                if stage != "diagnose":
                    sdk_time += now - stage_started
                stage, stage_started = msg["stage"], now
                deadline = now + (diagnose_bound if stage == "diagnose" else bound)
    if done is None:
        os.kill(pid, signal.SIGKILL)
        if stage == "diagnose":
            done = {"result": "error", "stage": stage, "message": f"kfp_doctor.diagnose did not end within {diagnose_bound:g}s"}
        else:
            done = {"result": "hung", "stage": stage, "elapsed_s": sdk_time + time.monotonic() - stage_started,
                    "message": f"no answer within {bound:g}s: stopped"}
    os.waitpid(pid, 0)
    os.close(r)
    log.seek(0)
    tail = log.read()[-2000:].decode("utf-8", "replace")
    log.close()
    if tail.strip():
        done["log"] = tail
    return done


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        # In a pod: one case, its answer the log's last line.
        print(json.dumps(run_in_child(json.loads(sys.argv[2]))), flush=True)
        return
    print(json.dumps({"ready": kfp.__version__}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        res = run_in_child(case)
        res["id"] = case.get("id")
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
