"""A kfp.Client call as data: the doctor's --client-config document.

The document holds kfp.Client's keyword arguments. From a live client they
are read back from what its constructor settled (kfp SDK 2.x, kfp.client):
``_existing_config`` (host, the Authorization token or its refresh hook,
TLS, proxy), the generated ApiClient (its Cookie) and ``_context_setting``
(the namespace). Nothing is sent: a custom credentials object's
``refresh_api_key_hook`` is called once on a scratch object, as the SDK
calls it before every request. What kfp.Client reads from its environment
(KF_PIPELINES_*, ~/.config/kfp/context.json, the pod's files) the doctor
reads again from the same environment.
"""

from __future__ import annotations

import os
import re
import types
from typing import Any, Dict, Optional

SCHEMA_VERSION = "1"

# kfp.client.Client._IN_CLUSTER_DNS_NAME and _KUBE_PROXY_PATH: the hosts a
# kfp.Client() without host= settles on in a pod and outside one.
_IN_CLUSTER = re.compile(r"^ml-pipeline\.(?P<ns>[^./]+)\.svc\.cluster\.local:8888$")
_KUBE_PROXY = re.compile(r"^(?P<server>.+)/api/v1/namespaces/(?P<ns>[^/]+)/services/ml-pipeline:http/proxy/?$")

# kfp.client's KF_PIPELINES_SA_TOKEN_ENV and KF_PIPELINES_SA_TOKEN_PATH.
_TOKEN_PATH_ENV = "KF_PIPELINES_SA_TOKEN_PATH"
_DEFAULT_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"


def _default_volume_path() -> str:
    """The path ServiceAccountTokenVolumeCredentials() reads with no path=."""
    return os.getenv(_TOKEN_PATH_ENV) or _DEFAULT_TOKEN_PATH


def _is_volume_credentials(obj: Any) -> bool:
    # By name and shape, not by import: the package must not need kfp.
    return type(obj).__name__ == "ServiceAccountTokenVolumeCredentials" and isinstance(getattr(obj, "_token_path", None), str)


def _hook_token(hook: Any, owner: Any) -> str:
    """The token a credentials object's refresh_api_key_hook puts in place,
    from one call on a scratch configuration (nothing is sent)."""
    scratch = types.SimpleNamespace(api_key={}, api_key_prefix={})
    name = f"{type(owner).__module__}.{type(owner).__qualname__}" if owner is not None else repr(hook)
    try:
        hook(scratch)
    except Exception as e:  # the client's every request would raise the same
        from ._report import DoctorError

        raise DoctorError(f"credentials={name}: its refresh_api_key_hook raised {type(e).__name__}, as it would before every request of the client") from None
    token = scratch.api_key.get("authorization")
    if not isinstance(token, str) or not token:
        from ._report import DoctorError

        raise DoctorError(f"credentials={name}: its refresh_api_key_hook set no api_key['authorization']")
    return token


def _credentials(call: Dict[str, Any], credentials: Any) -> None:
    """credentials=: kfp's volume credentials by their path, any other
    TokenCredentialsBase by the token its hook gives now."""
    if _is_volume_credentials(credentials):
        path = credentials._token_path
        call["credentials"] = {} if path == _default_volume_path() else {"path": path}
        return
    hook = getattr(credentials, "refresh_api_key_hook", None)
    if not callable(hook):
        raise TypeError(f"credentials= takes a kfp.client.TokenCredentialsBase (an object with refresh_api_key_hook), got {type(credentials).__name__}")
    call["existing_token"] = _hook_token(hook, credentials)
    call["token_source"] = f"credentials={type(credentials).__module__}.{type(credentials).__qualname__} (its refresh_api_key_hook)"


# kfp.Client's keyword arguments the doctor takes (--client-config's keys).
KEYWORDS = ("host", "namespace", "existing_token", "credentials", "cookies", "ssl_ca_cert", "verify_ssl", "kube_context")


def from_keywords(keywords: Dict[str, Any]) -> Dict[str, Any]:
    """The call kfp.Client(**keywords) would make, for when its constructor
    itself raises. The SDK's precedence holds: existing_token before
    credentials."""
    unknown = sorted(set(keywords) - set(KEYWORDS))
    if unknown:
        raise TypeError(f"not kfp.Client keywords the doctor takes: {', '.join(unknown)}")
    call: Dict[str, Any] = {"schema_version": SCHEMA_VERSION, "source": "kfp_doctor.diagnose keywords"}
    for key in ("host", "namespace", "ssl_ca_cert", "kube_context"):
        value = keywords.get(key)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{key}= takes a str, got {type(value).__name__}")
        if value:
            call[key] = value
    cookies, existing_token, credentials, verify_ssl = (keywords.get(k) for k in ("cookies", "existing_token", "credentials", "verify_ssl"))
    if cookies is not None:
        if not isinstance(cookies, str):
            raise TypeError(f"cookies= takes the Cookie header as a str (\"name=value; name2=value2\"), got {type(cookies).__name__}")
        if cookies:
            call["cookies"] = cookies
    if existing_token:
        if not isinstance(existing_token, str):
            raise TypeError(f"existing_token= takes a str, got {type(existing_token).__name__}")
        call["existing_token"] = existing_token
    elif credentials is not None:
        _credentials(call, credentials)
    if verify_ssl is not None:
        call["verify_ssl"] = bool(verify_ssl)
    return call


def from_client(client: Any, kube_context: Optional[str] = None) -> Dict[str, Any]:
    """The call a live kfp.Client stands for, read back from the object."""
    config = getattr(client, "_existing_config", None)
    if config is None or not hasattr(config, "host"):
        raise TypeError(
            f"diagnose() takes a kfp.Client of the v2 SDK (kfp>=2), got {type(client).__module__}.{type(client).__qualname__}; "
            "for anything else pass kfp.Client's keywords: diagnose(host=…, existing_token=…, namespace=…)"
        )
    call: Dict[str, Any] = {"schema_version": SCHEMA_VERSION, "source": "kfp.Client object"}
    host = config.host or ""
    context = getattr(client, "_context_setting", None) or {}
    in_cluster, proxied = _IN_CLUSTER.match(host), _KUBE_PROXY.match(host)
    if in_cluster or proxied:
        # kfp.Client() without host=: its namespace= named the Service (or
        # the proxy path); the user's namespace is the SDK's to find again.
        ns_arg = (in_cluster or proxied).group("ns")
        if ns_arg != "kubeflow":
            call["namespace"] = ns_arg
    else:
        call["host"] = host
        if context.get("namespace"):
            call["namespace"] = context["namespace"]
    if kube_context:
        call["kube_context"] = kube_context

    hook = getattr(config, "refresh_api_key_hook", None)
    if proxied and getattr(hook, "__module__", "").startswith("kubernetes."):
        hook = None  # load_kube_config's own refresh of the kubeconfig's token
    if hook is not None:
        owner = getattr(hook, "__self__", None)
        if _is_volume_credentials(owner):
            # In a pod without host= the SDK's default credentials are its
            # own choice, made again by the doctor; a path of the user's
            # own survives only when the default is unreadable.
            if not (in_cluster and owner._token_path == _default_volume_path()):
                _credentials(call, owner)
        else:
            call["existing_token"] = _hook_token(hook, owner)
            call["token_source"] = f"credentials={type(owner).__module__}.{type(owner).__qualname__} (its refresh_api_key_hook)"
    else:
        token = (getattr(config, "api_key", None) or {}).get("authorization")
        # Through the kube-apiserver's proxy the token is the kubeconfig's,
        # which the doctor loads itself.
        if token and not proxied:
            call["existing_token"] = token

    api_client = _api_client(client)
    cookie = getattr(api_client, "cookie", None) if api_client is not None else None
    # A cookie equal to context.json's came from there: the doctor reads
    # that file itself (with its header), as the SDK did.
    if cookie and cookie != context.get("client_authentication_cookie"):
        call["cookies"] = cookie
    # Through the proxy, TLS is the kubeconfig's (load_kube_config copied
    # it into the configuration), which the doctor loads itself.
    if not proxied:
        if getattr(config, "verify_ssl", True) is False:
            call["verify_ssl"] = False
        if getattr(config, "ssl_ca_cert", None):
            call["ssl_ca_cert"] = config.ssl_ca_cert
    return call


def client_proxy(client: Any) -> Optional[str]:
    """kfp.Client(proxy=…), which the doctor is given as HTTP(S)_PROXY."""
    config = getattr(client, "_existing_config", None)
    return getattr(config, "proxy", None) or None


def _api_client(client: Any) -> Any:
    for attr in ("_experiment_api", "_healthz_api", "_run_api"):
        api = getattr(client, attr, None)
        if api is not None and hasattr(api, "api_client"):
            return api.api_client
    return None
