package probes

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/distro"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// DistributionID is the id of the probe that names the login stack.
const DistributionID = "distribution"

// WithDistribution puts the distribution probe first: which login stack is
// in front decides how the rest of the report reads (a Dex login that cannot
// exist, a 302 to a cloud's sign-in).
func WithDistribution(set []probe.Probe[*Target]) []probe.Probe[*Target] {
	return append([]probe.Probe[*Target]{distributionProbe()}, set...)
}

func distributionProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:    DistributionID,
		Title: "which login stack stands in front of KFP (the gateway's answer to an anonymous browser, and the cluster's objects)",
		// Its verdict is about the gateway, not KFP: a run in which only
		// this probe answered has still not checked the connection.
		Local: true,
		Run: func(ctx context.Context, t *Target) probe.Result {
			base := t.Client.Base()
			reply, err := t.Client.Anonymous(ctx, "/")
			var answers []distro.Answer
			asked := "GET " + base.Redacted() + "/"
			if reply != nil {
				u, _ := url.Parse(reply.URL)
				answers = append(answers, distro.Answer{URL: u, Status: reply.StatusCode, Header: reply.Header, Body: reply.Body})
				asked = reply.Method + " " + reply.URL
			}
			signals := distro.Observe(base, answers...)
			var problems []string
			if t.Cluster != nil && t.Cluster.Kube != nil {
				objs, p := distro.ListCluster(ctx, t.Cluster.Kube)
				signals = append(signals, distro.ObserveCluster(objs)...)
				problems = p
			}
			m, ok := distro.Recognise(signals)
			var res probe.Result
			switch {
			case !ok && reply == nil:
				d := kfp.Classify(nil, err)
				return probe.Skipped(fmt.Sprintf("no answer to %s (%s): nothing to recognise", asked, d.Summary))
			case !ok:
				msg := fmt.Sprintf("no login stack recognised in front of KFP: %s answered HTTP %d", asked, reply.StatusCode)
				if len(m.Others) > 0 {
					msg += " (hints only: " + seen(m.Others) + ")"
				}
				// Nothing to report, which is no check passed either.
				res = probe.Skipped(msg)
				res.Facts = map[string]string{"distribution": "none"}
			default:
				d := m.Distribution
				msg := fmt.Sprintf("%s %s from %s", SayRecognised, d.Name, m.Seen())
				if d.Login {
					res = probe.Passf(msg + "; the doctor's --username login walks its Dex")
				} else {
					res = probe.Warned(d.KFD, msg+"; the doctor cannot log in there")
				}
				res.Facts = map[string]string{"distribution": string(d.ID), "distribution_name": d.Name, "distribution_doc": d.Doc, "signals": m.Seen()}
				if d.DocNote != "" {
					res.Facts["distribution_doc_note"] = d.DocNote
				}
			}
			if len(problems) > 0 {
				res.Message += "; could not check: " + strings.Join(problems, "; ")
			}
			if reply != nil {
				// No body: a sign-in page may carry a state or a nonce.
				res.Evidence = &probe.Evidence{Request: asked, StatusCode: reply.StatusCode}
			}
			return res
		},
	}
}

func seen(ss []distro.Signal) string {
	parts := make([]string, 0, len(ss))
	for _, s := range ss {
		parts = append(parts, s.Seen)
	}
	return strings.Join(parts, ", ")
}
