package explain

import (
	"regexp"
	"sort"

	"github.com/kfp-connect/kfp-connect/internal/distro"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/probes"
)

// DoctorPhrase is a phrase of the doctor's own report that names an id:
// quoted from the code that prints it (each package's Say… constants), never
// copied, so a reworded message changes what explain recognises, and
// docs/failures.md shows the change until it is regenerated.
type DoctorPhrase struct {
	ID     kfd.ID
	Phrase string
	Where  string // the package whose message holds it
}

func (d DoctorPhrase) re() string { return regexp.QuoteMeta(d.Phrase) }

// DoctorPhrases lists them, ordered by id.
func DoctorPhrases() []DoctorPhrase {
	out := []DoctorPhrase{
		{kfd.TokenInvalid, kfp.SayTokenNotAuthenticated, "internal/kfp"},
		{kfd.Expired, kfp.SayTokenExpired, "internal/kfp"},
		{kfd.Expired, probes.SayTokenExpiredAgo, "internal/probes"},
		{kfd.LoginPage, kfp.SayLoginPage, "internal/kfp"},
		{kfd.LoginPage, kfp.SayLoginRedirect, "internal/kfp"},
		{kfd.TLSVerify, kfp.SayTLSFailed, "internal/kfp"},
		{kfd.SelfSetUserID, kfp.SaySelfSetUserID, "internal/kfp"},
		{kfd.NoAnswer, kfp.SayNoAnswer, "internal/kfp"},
		{kfd.NothingListening, kfp.SayRefused, "internal/kfp"},
		{kfd.NotKFP, kfp.SayNothingAtPath, "internal/kfp"},
		{kfd.NotKFP, kfp.SayNotKFPAnswer, "internal/kfp"},
		{kfd.BadRedirect, kfp.SayNoLocation, "internal/kfp"},
		{kfd.LoginScript, login.SayNoCookie, "internal/login"},
		{kfd.LoginScript, login.SaySessionRefused, "internal/login"},
		{kfd.RedirectLoop, login.SayRedirectLoop, "internal/login"},
		{kfd.WrongCredentials, login.SayWrongCredentials, "internal/login"},
		{kfd.UnknownConnector, login.SayConnectors, "internal/login"},
		{kfd.AuthserviceDown, login.SayExtAuthzNoAnswer, "internal/login"},
		{kfd.UnsecuredGateway, probes.SayUnsecured, "internal/probes"},
		{kfd.LoginHelper, probes.SayHelperWould, "internal/probes"},
		{kfd.HostWithoutCredentials, probes.SayUnsentToken, "internal/probes"},
		{kfd.SDKTokenNotReproduced, probes.SayNoSuchToken, "internal/probes"},
		{kfd.PodDefaultWebhookDown, probes.SayWebhookRefuses, "internal/probes"},
		{kfd.PipelineStep, probes.SayPipelineStep, "internal/probes"},
		{kfd.NoVerdict, probe.SayNoProbeStarted, "internal/probe"},
		{kfd.NoVerdict, probe.SayNoVerdict, "internal/probe"},
	}
	// The distributions' names come from internal/distro, as the doctor
	// prints them: "recognised: NAME" (the distribution probe) and
	// "redirect to NAME's sign-in" (healthz meeting the redirect).
	for _, d := range distro.All() {
		if d.KFD == "" {
			continue
		}
		out = append(out,
			DoctorPhrase{d.KFD, probes.SayRecognised + " " + d.Name, "internal/probes"},
			DoctorPhrase{d.KFD, "redirect to " + d.Name + kfp.SaySignIn, "internal/kfp"})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
