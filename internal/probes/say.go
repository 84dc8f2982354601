package probes

// The phrases of the probes' findings that `kfp-doctor explain` recognises
// in a pasted report (internal/explain quotes them from here, and
// docs/failures.md lists them): a reworded message changes them both.
const (
	SayUnsecured       = "answered without any login: nothing guards KFP"
	SayHelperWould     = "get_istio_auth_session() would"
	SayUnsentToken     = "does not send the token mounted at"
	SayNoSuchToken     = "the doctor sends no such token"
	SayWebhookRefuses  = "every new pod in a profile namespace is refused"
	SayRecognised      = "recognised:"
	SayTokenExpiredAgo = "has expired: its exp passed"
	SayPipelineStep    = "this pod is a pipeline step"
)
