"""The installed kfp-doctor package, tested as a user runs it.

hack/pywheel's TestInstalledWheel builds the wheel, installs it into a fresh
venv with ``pip install --no-index`` and runs these tests with that venv's
python, the real KFP SDK on PYTHONPATH when it is at hand, and KFP endpoints
that replay the replies recorded from a real KFP 2.17.0:

  KFP_DOCTOR_TEST_HOST       multi-user KFP: 401 without a token, a list with one
  KFP_DOCTOR_TEST_SLOW_HOST  the same, each reply a second late (to watch the process list)
  KFP_DOCTOR_TEST_JWT        a token shaped as a projected ServiceAccount token
"""

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import unittest
import warnings

import kfp_doctor
from kfp_doctor import _client

HAVE_KFP = importlib.util.find_spec("kfp") is not None
HOST = os.environ.get("KFP_DOCTOR_TEST_HOST", "")
SLOW = os.environ.get("KFP_DOCTOR_TEST_SLOW_HOST", "")
JWT = os.environ.get("KFP_DOCTOR_TEST_JWT", "")
NEEDS_KFP = unittest.skipUnless(HAVE_KFP, "the KFP SDK is not importable (here: put ../shared/upstream/kfp-sdk-2.17.0 on PYTHONPATH; elsewhere pip install kfp==2.17.0)")
NEEDS_HOST = unittest.skipUnless(HOST and SLOW and JWT, "no test endpoint: run through hack/pywheel's TestInstalledWheel")

# Canaries: a secret that shows up anywhere it must not fails the test.
CANARY_TOKEN = "canary-token-7f3a9c2e5b1d4"
CANARY_COOKIE = "canary-cookie-9e8d7c6b5a4"


def kfp_client(**kw):
    import kfp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kfp.Client(**kw)


class Installed(unittest.TestCase):
    """What pip install kfp-doctor gives."""

    def test_the_package_and_binary_are_the_wheels(self):
        self.assertTrue(kfp_doctor.__file__.startswith(sys.prefix), kfp_doctor.__file__)
        self.assertEqual(kfp_doctor.find_binary(), os.path.join(sysconfig.get_path("scripts"), "kfp-doctor"))
        self.assertNotEqual(kfp_doctor.__version__, "0+unknown")

    def test_the_command_and_the_module(self):
        for cmd in (["kfp-doctor", "version"], [sys.executable, "-m", "kfp_doctor", "version"]):
            env = dict(os.environ, PATH=sysconfig.get_path("scripts") + os.pathsep + os.environ.get("PATH", ""))
            out = subprocess.run(cmd, stdout=subprocess.PIPE, env=env, check=True, timeout=30).stdout.decode()
            self.assertTrue(out.startswith("kfp-doctor "), out)

    def test_only_the_standard_library(self):
        # Every module the package imports must come with Python itself.
        code = (
            "import sys, kfp_doctor, kfp_doctor._api, kfp_doctor._client, kfp_doctor._report, kfp_doctor._binary\n"
            "std = set(sys.stdlib_module_names) if hasattr(sys, 'stdlib_module_names') else None\n"
            "bad = sorted(m for m in sys.modules if std is not None and m.split('.')[0] not in std and not m.startswith('kfp_doctor') and m != '__main__')\n"
            "print(','.join(bad))"
        )
        out = subprocess.run([sys.executable, "-S", "-c", code], stdout=subprocess.PIPE, check=True, timeout=30,
                             env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(kfp_doctor.__file__)))).stdout.decode().strip()
        self.assertEqual(out, "", f"modules outside the standard library: {out}")


@NEEDS_KFP
class ReadingAClient(unittest.TestCase):
    """A live kfp.Client read back into kfp.Client's keywords (nothing is sent:
    every client here has a namespace, so its constructor calls no healthz)."""

    def test_host_token_namespace_cookies(self):
        c = kfp_client(host="http://kfp.example:3000/", namespace="team-a", existing_token="tok", cookies="a=1")
        self.assertEqual(_client.from_client(c), {"schema_version": "1", "source": "kfp.Client object", "host": "http://kfp.example:3000",
                                                  "namespace": "team-a", "existing_token": "tok", "cookies": "a=1"})

    def test_a_host_without_scheme_is_as_the_sdk_settled_it(self):
        c = kfp_client(host="kfp.example", namespace="team-a")
        self.assertEqual(_client.from_client(c)["host"], "https://kfp.example")

    def test_volume_credentials(self):
        from kfp.client import set_volume_credentials as svc

        c = kfp_client(host="http://kfp.example", namespace="team-a", credentials=svc.ServiceAccountTokenVolumeCredentials(path="/tok/en"))
        self.assertEqual(_client.from_client(c)["credentials"], {"path": "/tok/en"})
        c = kfp_client(host="http://kfp.example", namespace="team-a", credentials=svc.ServiceAccountTokenVolumeCredentials())
        self.assertEqual(_client.from_client(c)["credentials"], {})

    def test_a_credentials_object_of_ones_own(self):
        from kfp.client.token_credentials_base import TokenCredentialsBase

        class Vault(TokenCredentialsBase):
            def refresh_api_key_hook(self, config):
                config.api_key["authorization"] = "from-the-vault"

        call = _client.from_client(kfp_client(host="http://kfp.example", namespace="team-a", credentials=Vault()))
        self.assertEqual(call["existing_token"], "from-the-vault")
        self.assertIn("Vault", call["token_source"])
        self.assertNotIn("credentials", call)

    def test_tls(self):
        call = _client.from_client(kfp_client(host="https://kfp.example", namespace="team-a", verify_ssl=False, ssl_ca_cert="/ca.pem"))
        self.assertEqual((call["verify_ssl"], call["ssl_ca_cert"]), (False, "/ca.pem"))

    def test_no_host_in_a_pod(self):
        # kfp.Client() in a pod: load_incluster_config succeeds there. The
        # Service is named by namespace=; the SDK's default credentials are
        # its own choice, which the doctor makes again in the pod.
        import kubernetes.config

        with tempfile.TemporaryDirectory() as d:
            tok = os.path.join(d, "token")
            with open(tok, "w") as f:
                f.write("t")
            saved, env = kubernetes.config.load_incluster_config, os.environ.get("KF_PIPELINES_SA_TOKEN_PATH")
            kubernetes.config.load_incluster_config = lambda *a, **k: None
            os.environ["KF_PIPELINES_SA_TOKEN_PATH"] = tok
            try:
                c = kfp_client(namespace="team-a")
                self.assertEqual(c._existing_config.host, "ml-pipeline.team-a.svc.cluster.local:8888")
                self.assertEqual(_client.from_client(c), {"schema_version": "1", "source": "kfp.Client object", "namespace": "team-a"})
            finally:
                kubernetes.config.load_incluster_config = saved
                if env is None:
                    del os.environ["KF_PIPELINES_SA_TOKEN_PATH"]
                else:
                    os.environ["KF_PIPELINES_SA_TOKEN_PATH"] = env

    def test_no_host_outside_a_pod(self):
        # kfp.Client() outside: the kubeconfig's server through the
        # kube-apiserver's service proxy, with the kubeconfig's own token.
        # The kubernetes package reads $KUBECONFIG when it is imported: a
        # process of its own.
        code = (
            "import json, warnings; warnings.simplefilter('ignore'); import kfp; from kfp_doctor import _client\n"
            "c = kfp.Client(namespace='team-a')\n"
            "print(json.dumps([c._existing_config.host, _client.from_client(c, kube_context='x')]))"
        )
        with tempfile.TemporaryDirectory() as d:
            kc = os.path.join(d, "config")
            with open(kc, "w") as f:
                f.write("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://k8s.example:6443'}}]\n"
                        "users: [{name: u, user: {token: kube-token}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n")
            out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, check=True, timeout=60, env=dict(os.environ, KUBECONFIG=kc)).stdout
        host, call = json.loads(out)
        self.assertEqual(host, "https://k8s.example:6443/api/v1/namespaces/team-a/services/ml-pipeline:http/proxy/")
        self.assertEqual(call, {"schema_version": "1", "source": "kfp.Client object", "namespace": "team-a", "kube_context": "x"})

    def test_not_a_client(self):
        with self.assertRaises(TypeError):
            kfp_doctor.diagnose(object())
        with self.assertRaises(TypeError):
            kfp_doctor.diagnose(kfp_client(host="http://kfp.example", namespace="a"), host="http://other.example")


def scan_processes(secrets, stop, seen):
    """Reads every process's command line (what ps shows) until stop is set;
    records kfp-doctor processes seen and any secret found."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            if "kfp-doctor" in cmd and "--client-config" in cmd:
                seen["doctor"] = seen.get("doctor", 0) + 1
            for s in secrets:
                if s in cmd:
                    seen.setdefault("leaks", []).append(cmd.replace("\0", " "))
        time.sleep(0.02)


@NEEDS_KFP
@NEEDS_HOST
class Diagnosing(unittest.TestCase):
    def run_flags(self, *args, stdin=b""):
        out = subprocess.run([kfp_doctor.find_binary(), *args, "-o", "json", "--timeout", "10s"], input=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, env=dict(os.environ, NO_COLOR="1"))
        self.assertIn(out.returncode, (0, 1), out.stderr.decode())
        return json.loads(out.stdout)

    def assertSameFindings(self, by_flags, by_client):
        pick = lambda rep: [(r["probe"], r["status"], r.get("kfd", ""), r["message"]) for r in rep["results"]]
        self.assertEqual(pick(by_flags), pick(by_client))
        self.assertEqual(by_flags["ok"], by_client["ok"])

    def test_the_same_report_as_the_flags(self):
        with tempfile.TemporaryDirectory() as d:
            tok = os.path.join(d, "token")
            with open(tok, "w") as f:
                f.write(JWT)
            for flags, kw in [
                (["--host", HOST, "-n", "ns-1", "--token-file", tok], dict(host=HOST, namespace="ns-1", existing_token=JWT)),
                (["--host", HOST, "-n", "ns-1", "--token-path", tok], dict(host=HOST, namespace="ns-1", credentials=None, _path=tok)),
                (["--host", HOST, "-n", "ns-1"], dict(host=HOST, namespace="ns-1")),
            ]:
                with self.subTest(flags=" ".join(flags)):
                    path = kw.pop("_path", None)
                    if path:
                        from kfp.client import set_volume_credentials as svc

                        kw["credentials"] = svc.ServiceAccountTokenVolumeCredentials(path=path)
                    rep = kfp_doctor.diagnose(kfp_client(**kw))
                    self.assertSameFindings(self.run_flags(*flags), rep.json)
                    # The keywords form is the same call.
                    self.assertSameFindings(rep.json, kfp_doctor.diagnose(**kw).json)

    def test_the_report_object(self):
        good = kfp_doctor.diagnose(kfp_client(host=HOST, namespace="ns-1", existing_token=JWT))
        self.assertTrue(good.ok, str(good))
        self.assertEqual(good.exit_code, 0)
        self.assertEqual(good.json["schema_version"], "1")
        self.assertTrue(str(good).startswith("kfp-doctor → " + HOST), str(good))
        self.assertIn("<table>", good._repr_html_())
        bad = kfp_doctor.diagnose(kfp_client(host=HOST, namespace="ns-1"))
        self.assertFalse(bad.ok)
        self.assertEqual(bad.kfd, ["KFD001"])
        self.assertIn("KFD001", repr(bad))
        self.assertIn("docs/failures.md#kfd001", bad._repr_html_())

    def test_bad_arguments_say_why(self):
        with self.assertRaises(kfp_doctor.DoctorError) as e:
            kfp_doctor.diagnose(host="ftp://kfp.example")
        self.assertEqual(e.exception.exit_code, 2)
        self.assertIn("host", str(e.exception))

    def test_no_secret_in_any_form(self):
        cookie = "oauth2_proxy_kubeflow=" + CANARY_COOKIE
        stop, seen = threading.Event(), {}
        watcher = threading.Thread(target=scan_processes, args=([CANARY_TOKEN, CANARY_COOKIE], stop, seen))
        watcher.start()
        try:
            rep = kfp_doctor.diagnose(kfp_client(host=SLOW, namespace="ns-1", existing_token=CANARY_TOKEN, cookies=cookie))
        finally:
            stop.set()
            watcher.join()
        self.assertGreater(seen.get("doctor", 0), 0, "the process list was never seen with the doctor running: the check checked nothing")
        self.assertEqual(seen.get("leaks", []), [])
        for form, text in (("text", str(rep)), ("html", rep._repr_html_()), ("json", json.dumps(rep.json)), ("repr", repr(rep))):
            for s in (CANARY_TOKEN, CANARY_COOKIE):
                self.assertNotIn(s, text, f"{form} holds a secret")
        # The report still says what was sent, by kind.
        self.assertEqual(rep.json["facts"]["credentials"], "existing-token")
        self.assertEqual(rep.json["facts"]["cookie_source"], "cookies=")

    def test_explain_an_exception_and_a_text(self):
        import kfp_server_api

        try:
            kfp_client(host=HOST, namespace="ns-1").list_experiments()
        except kfp_server_api.ApiException as e:
            exc = e
        else:
            self.fail("listing without a token raised nothing")
        rep = kfp_doctor.explain(exc)
        self.assertTrue(rep.ok, str(rep))
        self.assertIn("KFD001", rep.kfd)
        self.assertIn("KFD001", rep._repr_html_())
        none = kfp_doctor.explain("nothing went wrong today")
        self.assertFalse(none.ok)
        self.assertTrue(str(none).startswith("no match"))


if __name__ == "__main__":
    unittest.main()
