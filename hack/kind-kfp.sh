#!/usr/bin/env bash
# hack/kind-kfp.sh standalone|multi-user: a kind cluster (kindconfigs/MODE.yaml) with KFP installed from
# the real upstream manifests at the commits ../shared/upstream copies, waited for until it serves.
# The kind job of .github/workflows/ci.yml runs exactly this, then `make conformance`.
#
# Needs docker, kind, kubectl and git. KFP_MANIFESTS=DIR uses a checkout you already have (the
# kubeflow/pipelines one for standalone, kubeflow/manifests for multi-user) instead of cloning.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in
standalone | multi-user) ;;
*)
	echo "usage: $0 standalone|multi-user" >&2
	exit 2
	;;
esac
cluster=${KIND_CLUSTER:-kfp-$mode}

# The commits of ../shared/upstream/README.md: KFP 2.17.0 and the Kubeflow manifests that ship it.
pipelines_repo=https://github.com/kubeflow/pipelines
pipelines_commit=7b70c7b95f
manifests_repo=https://github.com/kubeflow/manifests
manifests_commit=009c88084

for tool in docker kind kubectl git; do
	command -v "$tool" >/dev/null || {
		echo "$0: $tool is not on PATH" >&2
		exit 2
	}
done

checkout() { # repo commit dir
	if [ ! -d "$3/.git" ]; then
		git clone --quiet --filter=blob:none "$1" "$3"
	fi
	git -C "$3" -c advice.detachedHead=false checkout --quiet "$2"
}

# apply DIR: build a kustomization and server-side apply it; a CRD or webhook that is not
# served yet makes the first tries fail, so it is retried a bounded number of times.
apply() {
	local dir=$1 try
	if [ ! -d "$dir" ]; then
		echo "$0: $dir is not in the checkout; the list below no longer matches the pinned commit" >&2
		exit 1
	fi
	echo "── applying $dir"
	for try in 1 2 3 4 5 6; do
		if kubectl kustomize "$dir" | kubectl apply --server-side --force-conflicts -f - >/dev/null; then
			return 0
		fi
		echo "   (try $try failed; waiting for the API to serve what it needs)"
		sleep 10
	done
	echo "$0: could not apply $dir" >&2
	exit 1
}

kind get clusters 2>/dev/null | grep -qx "$cluster" ||
	kind create cluster --name "$cluster" --config "kindconfigs/$mode.yaml" --wait 2m
kubectl config use-context "kind-$cluster" >/dev/null

if [ "$mode" = standalone ]; then
	src=${KFP_MANIFESTS:-.cache/kubeflow-pipelines}
	[ -n "${KFP_MANIFESTS:-}" ] || checkout "$pipelines_repo" "$pipelines_commit" "$src"
	k="$src/manifests/kustomize"
	apply "$k/cluster-scoped-resources"
	kubectl wait --for condition=established --timeout=2m crd/applications.app.k8s.io
	apply "$k/env/platform-agnostic"
else
	src=${KFP_MANIFESTS:-.cache/kubeflow-manifests}
	[ -n "${KFP_MANIFESTS:-}" ] || checkout "$manifests_repo" "$manifests_commit" "$src"
	# kubeflow/manifests' own order: cert-manager, Istio, the login stack, KFP, profiles, PodDefaults,
	# and the example user's profile.
	apply "$src/common/cert-manager/base"
	kubectl -n cert-manager wait --for=condition=Available deployment --all --timeout=5m
	apply "$src/common/cert-manager/kubeflow-issuer/base"
	apply "$src/common/istio/istio-crds/base"
	apply "$src/common/istio/istio-namespace/base"
	apply "$src/common/istio/istio-install/overlays/oauth2-proxy"
	kubectl -n istio-system wait --for=condition=Available deployment --all --timeout=5m
	apply "$src/common/oauth2-proxy/overlays/m2m-dex-and-kind"
	apply "$src/common/dex/overlays/oauth2-proxy"
	apply "$src/common/kubeflow-namespace/base"
	apply "$src/common/kubeflow-roles/base"
	apply "$src/common/istio/kubeflow-istio-resources/base"
	apply "$src/applications/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user"
	apply "$src/applications/profiles/upstream/overlays/kubeflow"
	apply "$src/applications/admission-webhook/upstream/overlays/cert-manager"
	kubectl -n kubeflow wait --for=condition=Available deployment/profiles-deployment --timeout=10m
	apply "$src/common/user-namespace/base"
fi

echo "── waiting for KFP"
kubectl -n kubeflow wait --for=condition=Available deployment --all --timeout=20m
kubectl -n kubeflow rollout status deployment/ml-pipeline --timeout=5m
echo "KFP ($mode) is up on kind cluster $cluster (context kind-$cluster)"
