package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kfp-connect/kfp-connect/internal/kfpauthz"
)

// RBAC attributes KFP asks about (the verbs and resources of its
// resource manager; kfp-facts.md has the table).
const (
	rbacExperiments      = kfpauthz.Experiments
	rbacPipelines        = "pipelines"
	rbacRuns             = "runs"
	rbacJobs             = "jobs" // v2's recurring runs
	verbList             = "list"
	verbGet              = "get"
	verbCreate           = "create"
	verbDelete           = "delete"
	verbArchive          = "archive"
	verbUnarchive        = "unarchive"
	authorizationHeader  = "Authorization"
	bearerPrefix         = "Bearer "
	defaultReviewTimeout = 10 * time.Second
)

// Messages of KFP's authenticators, kept verbatim: clients match on them.
const (
	msgNoIdentity   = "Request header error: there is no user identity header."
	msgEmptyUser    = "Failed to check authorization. User identity is empty in the request header"
	msgReviewFailed = "Failed to authenticate token review"
)

// noIdentity is KFP's IdentityHeaderMissingError, which both authenticators
// return when their header is absent.
func noIdentity() *userError { return unauthenticated(msgNoIdentity, msgNoIdentity) }

// singlePrefixedHeader reads a header KFP's way (gRPC metadata: one value,
// with the prefix): absent, repeated or wrongly prefixed are errors.
func singlePrefixedHeader(r *http.Request, name, prefix string) (string, *userError) {
	values := r.Header.Values(name)
	if len(values) == 0 {
		return "", noIdentity()
	}
	if len(values) != 1 {
		msg := fmt.Sprintf("Request header error: unexpected number of '%s' headers. Expect 1 got %d", name, len(values))
		return "", badRequest(msg, msg)
	}
	if !strings.HasPrefix(values[0], prefix) {
		msg := fmt.Sprintf("Header '%s' is incorrectly formatted. Expected prefix '%s'", name, prefix)
		return "", badRequest(msg, msg)
	}
	return strings.TrimPrefix(values[0], prefix), nil
}

// authenticate tries KFP's authenticators in order, the identity header then
// a bearer token reviewed by the kube-apiserver; the first that succeeds
// wins. On failure it returns every authenticator's error, in order.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (string, []string) {
	var errs []string
	user, err := singlePrefixedHeader(r, s.cfg.UserIDHeader, s.cfg.UserIDPrefix)
	if err == nil {
		return user, nil
	}
	errs = append(errs, err.chain)
	user, err = s.reviewToken(ctx, r)
	if err == nil {
		return user, nil
	}
	return "", append(errs, err.chain)
}

// reviewToken is KFP's TokenReview authenticator.
func (s *Server) reviewToken(ctx context.Context, r *http.Request) (string, *userError) {
	token, uerr := singlePrefixedHeader(r, authorizationHeader, bearerPrefix)
	if uerr != nil {
		return "", uerr
	}
	ctx, cancel := context.WithTimeout(ctx, s.reviewTimeout)
	defer cancel()
	audiences := []string{s.cfg.TokenReviewAudience}
	review, err := s.kube.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", unauthenticated(err.Error(), "Request header error: Failed to review the token provided").wrap("Authentication failure")
	}
	if !review.Status.Authenticated {
		return "", unauthenticated(msgReviewFailed,
			fmt.Sprintf("Review.Status.Authenticated is false. Error %s", review.Status.Error)).wrap("Authentication failure")
	}
	for _, want := range audiences {
		if !contains(review.Status.Audiences, want) {
			return "", unauthenticated(msgReviewFailed,
				fmt.Sprintf("Failed to find all of '%v' in audience: %v", audiences, review.Status.Audiences)).wrap("Authentication failure")
		}
	}
	return review.Status.User.Username, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// authorize is KFP's ResourceManager.IsAuthorized for multi-user mode:
// authenticate, then one SubjectAccessReview with the user and the resource
// attributes only — never groups, so RoleBindings to groups do not apply.
func (s *Server) authorize(ctx context.Context, r *http.Request, attrs *authzv1.ResourceAttributes) *userError {
	user, errs := s.authenticate(ctx, r)
	if user == "" {
		// An identity header present but empty after its prefix "succeeds"
		// with no user in KFP too; it then fails here with nothing to add.
		return unauthenticated(aggregateOrEmpty(errs), msgEmptyUser)
	}
	ctx, cancel := context.WithTimeout(ctx, s.reviewTimeout)
	defer cancel()
	res, err := kfpauthz.Ask(ctx, s.kube.AuthorizationV1().SubjectAccessReviews(), user, attrs)
	if err != nil {
		// KFP tells a timeout (try again: 503) from any other failure (500)
		// with a type assertion on the client's error, not errors.As.
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return unavailable(err.Error(), fmt.Sprintf("Failed to create SubjectAccessReview for user '%s' (request: %+v) - try again later", user, attrs))
		}
		return internalError(err.Error(), fmt.Sprintf("Failed to create SubjectAccessReview for user '%s' (request: %+v)", user, attrs))
	}
	if !res.Status.Allowed {
		return permissionDenied("Unauthorized access",
			fmt.Sprintf("User '%s' is not authorized with reason: %s (request: %+v)", user, res.Status.Reason, attrs))
	}
	return nil
}

func aggregateOrEmpty(errs []string) string {
	if len(errs) == 0 {
		return ""
	}
	return aggregate(errs)
}
