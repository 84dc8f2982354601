// Package admission is the HTTP side of an admission webhook, as the
// kube-apiserver calls one: an AdmissionReview read from a POST and
// answered in the version it came in. The webhooks of this module (Kubeflow's
// PodDefault webhook, Istio's injector) differ only in what they decide.
package admission

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
)

// MaxReview bounds an AdmissionReview's body, the apiserver's own limit for
// an object in a request.
const MaxReview = 4 << 20

// Read reads the AdmissionReview the apiserver POSTs; on a request that is
// not one it answers the error itself and returns false.
func Read(w http.ResponseWriter, r *http.Request) (*admissionv1.AdmissionReview, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return nil, false
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxReview+1))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	if len(body) > MaxReview {
		http.Error(w, "AdmissionReview too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("not an AdmissionReview with a request: %v", err), http.StatusBadRequest)
		return nil, false
	}
	switch review.APIVersion {
	case "admission.k8s.io/v1", "admission.k8s.io/v1beta1":
	default:
		http.Error(w, fmt.Sprintf("AdmissionReview apiVersion %q: want admission.k8s.io/v1 or v1beta1", review.APIVersion), http.StatusBadRequest)
		return nil, false
	}
	return &review, true
}

// Answer writes resp as the answer to review, in review's version.
func Answer(w http.ResponseWriter, review *admissionv1.AdmissionReview, resp *admissionv1.AdmissionResponse) {
	resp.UID = review.Request.UID
	out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}
