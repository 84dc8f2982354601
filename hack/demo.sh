#!/usr/bin/env bash
# make demo: bring up a multi-user KFP lab without Docker, run the doctor against
# it through a port-forward without a token and with a freshly minted one, print
# both diagnoses, and tear everything down (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
doctor=bin/kfp-doctor
connect=bin/kfp-connect
name=kfp-demo-$$

cleanup() { "$connect" lab down --name "$name" >/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$connect" lab up --name "$name" --mode multi-user
eval "$("$connect" lab env --name "$name")"

echo
echo "══ 1. kfp.Client(host=\"$KFP_LAB_URL\") with no credentials, namespace $KFP_LAB_PROFILE"
"$doctor" --host "$KFP_LAB_URL" -n "$KFP_LAB_PROFILE" || echo "(exit $? — expected: multi-user KFP needs an identity)"

echo
echo "══ 2. the same with a ServiceAccount token (kubectl create token default-editor --audience pipelines.kubeflow.org)"
KFP_DOCTOR_TOKEN=$("$KFP_LAB_KUBECTL" --kubeconfig "$KFP_LAB_KUBECONFIG" -n "$KFP_LAB_PROFILE" \
	create token default-editor --audience pipelines.kubeflow.org) \
	"$doctor" --host "$KFP_LAB_URL" -n "$KFP_LAB_PROFILE"

echo
echo "══ 3. no --host: the doctor finds KFP through the kubeconfig, port-forwards itself, and adds the cluster's checks"
KFP_DOCTOR_TOKEN=$("$KFP_LAB_KUBECTL" --kubeconfig "$KFP_LAB_KUBECONFIG" -n "$KFP_LAB_PROFILE" \
	create token default-editor --audience pipelines.kubeflow.org) \
	"$doctor" --kubeconfig "$KFP_LAB_KUBECONFIG" -n namespace-2 || echo "(exit $? — expected: default-editor of $KFP_LAB_PROFILE has no RoleBinding in namespace-2)"

echo
echo "══ 4. log in through the gateway as a browser would: oauth2-proxy, Dex (static password), session cookies"
KFP_DOCTOR_PASSWORD=12341234 "$doctor" --host "$KFP_LAB_GATEWAY_URL" --username "$KFP_LAB_LOGIN_USER" -n "$KFP_LAB_PROFILE"

echo
echo "══ 5. the same with a wrong password"
KFP_DOCTOR_PASSWORD=not-the-password "$doctor" --host "$KFP_LAB_GATEWAY_URL" --username "$KFP_LAB_LOGIN_USER" -n "$KFP_LAB_PROFILE" || echo "(exit $? — expected: Dex refuses the password, KFD029)"
