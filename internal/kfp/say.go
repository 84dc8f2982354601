package kfp

// The phrases of the diagnoses Classify prints that `kfp-doctor explain`
// recognises in a pasted report (internal/explain quotes them from here, and
// docs/failures.md lists them): the message and its recognition cannot
// drift apart.
const (
	SayTokenNotAuthenticated = "TokenReview did not authenticate the token"
	SayTokenExpired          = "the token has expired"
	SayLoginPage             = "with an HTML login page instead of JSON"
	SayLoginRedirect         = "redirect to the login flow"
	SayTLSFailed             = "TLS verification failed"
	SaySelfSetUserID         = "the request set " + UserIDHeader + " itself"
	SayNoAnswer              = "connected, but no answer before the deadline"
	SayRefused               = "connection refused: nothing listens on"
	SayNothingAtPath         = "nothing of KFP's at this path"
	SayNotKFPAnswer          = "but not a KFP answer"
	// SaySignIn follows a distribution's name: "redirect to NAME's sign-in".
	SaySignIn = "'s sign-in"
	// SayNoLocation is a redirect that names no target.
	SayNoLocation = "redirect without a Location header"
)
