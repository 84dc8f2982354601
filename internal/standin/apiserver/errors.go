package apiserver

import (
	"net/http"
	"strings"
)

// gRPC codes the server answers with, and the HTTP status grpc-gateway maps
// each to.
const (
	codeInvalidArgument  = 3
	codeNotFound         = 5
	codeAlreadyExists    = 6
	codePermissionDenied = 7
	codeAborted          = 10
	codeUnimplemented    = 12
	codeInternal         = 13
	codeUnavailable      = 14
	codeUnauthenticated  = 16
)

func httpStatus(code int) int {
	switch code {
	case codeInvalidArgument:
		return http.StatusBadRequest
	case codeNotFound:
		return http.StatusNotFound
	case codeAlreadyExists, codeAborted:
		return http.StatusConflict
	case codePermissionDenied:
		return http.StatusForbidden
	case codeUnimplemented:
		return http.StatusNotImplemented
	case codeUnavailable:
		return http.StatusServiceUnavailable
	case codeUnauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// userError mirrors the shape of KFP's util.UserError as it reaches a client:
// chain is the internal message (what "message" carries, every wrap
// prepended with ": "), external the short one (details[0].message), code
// the gRPC code. It is a value, not a Go error: nothing here unwraps it.
type userError struct {
	code     int
	external string
	chain    string
}

// wrap prepends a context message, as util.Wrap does with pkg/errors.
func (e *userError) wrap(msg string) *userError {
	return &userError{code: e.code, external: e.external, chain: msg + ": " + e.chain}
}

// The constructors below reproduce the internal and external messages of
// KFP's util.New…Error helpers; cause is the Error() of the wrapped error.

func invalidInput(msg string) *userError {
	return &userError{codeInvalidArgument, msg, "Invalid input error: " + msg}
}

func unauthenticated(cause, external string) *userError {
	return &userError{codeUnauthenticated, external, joinCause("Unauthenticated: "+external, cause)}
}

func badRequest(cause, external string) *userError {
	return &userError{codeAborted, external, joinCause("BadRequestError: "+external, cause)}
}

func permissionDenied(cause, external string) *userError {
	return &userError{codePermissionDenied, external, joinCause("PermissionDenied: "+external, cause)}
}

func internalError(cause, internal string) *userError {
	return &userError{codeInternal, "Internal Server Error", joinCause("InternalServerError: "+internal, cause)}
}

func unavailable(cause, internal string) *userError {
	return &userError{codeUnavailable, "Service unavailable", joinCause("ServiceUnavailable: "+internal, cause)}
}

func notFound(msg string) *userError {
	return &userError{codeNotFound, msg, "ResourceNotFoundError: " + msg}
}

func alreadyExists(msg string) *userError {
	return &userError{codeAlreadyExists, msg, "Already exist error: " + msg}
}

func joinCause(msg, cause string) string {
	if cause == "" {
		return msg
	}
	return msg + ": " + cause
}

// aggregate renders errors as k8s.io/apimachinery's utilerrors.NewAggregate
// does, which KFP uses to collect its authenticators' failures: one message
// alone, duplicates dropped, several as "[a, b]".
func aggregate(msgs []string) string {
	var uniq []string
	seen := map[string]bool{}
	for _, m := range msgs {
		if !seen[m] {
			seen[m] = true
			uniq = append(uniq, m)
		}
	}
	if len(uniq) == 1 {
		return uniq[0]
	}
	return "[" + strings.Join(uniq, ", ") + "]"
}

// statusDetail is the google.rpc.Status KFP attaches to every error.
type statusDetail struct {
	Type    string `json:"@type"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// envelope is grpc-gateway v2's error body: no "error" field (that was v1's).
type envelope struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Details []statusDetail `json:"details"`
}

func writeUserError(w http.ResponseWriter, e *userError) {
	writeJSON(w, httpStatus(e.code), envelope{
		Code:    e.code,
		Message: e.chain,
		Details: []statusDetail{{Type: "type.googleapis.com/google.rpc.Status", Code: e.code, Message: e.external}},
	})
}

// writeGatewayError is for errors grpc-gateway produces itself (routing,
// request decoding), which carry no details.
func writeGatewayError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, httpStatus(code), struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
}
