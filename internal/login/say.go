package login

// The phrases of the login's failures that `kfp-doctor explain` recognises
// in a pasted report (internal/explain quotes them from here, and
// docs/failures.md lists them).
const (
	SayNoCookie         = "the gateway set no cookie: no session to keep"
	SaySessionRefused   = "it did not accept the session"
	SayRedirectLoop     = "redirect loop:"
	SayWrongCredentials = "Dex answered its login form again"
	SayConnectors       = "Dex offers the connectors"
	SayExtAuthzNoAnswer = "the gateway's ext_authz provider does not answer"
)
