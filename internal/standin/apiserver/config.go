// Package apiserver is a stand-in for KFP's API server (ml-pipeline, REST on
// 8888), faithful to what a client sees: the routes, statuses, JSON shapes,
// error envelopes and message chains of a real KFP 2.17 server. It keeps
// experiments in memory and asks a real kube-apiserver for every
// authentication (TokenReview) and authorization (SubjectAccessReview)
// decision, exactly as KFP does.
package apiserver

import (
	"fmt"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"strconv"
)

// KFP's code defaults, used when the variable is unset.
const (
	DefaultUserIDHeader        = "x-goog-authenticated-user-email"
	DefaultUserIDPrefix        = "accounts.google.com:"
	DefaultTokenReviewAudience = kubeflow.Audience
	DefaultNamespace           = kubeflow.Namespace
	unknownBuild               = "unknown"
)

// Config is what the real server reads from its pod's environment.
type Config struct {
	MultiUser           bool   // env MULTIUSER
	UserIDHeader        string // env KUBEFLOW_USERID_HEADER
	UserIDPrefix        string // env KUBEFLOW_USERID_PREFIX; set to "" means no prefix
	TokenReviewAudience string // env TOKEN_REVIEW_AUDIENCE
	Namespace           string // env POD_NAMESPACE
	TagName, CommitSHA  string // healthz build info
}

// ConfigFromEnv reads the variables KFP reads (through viper, with
// AllowEmptyEnv), through lookup (os.LookupEnv or a pod's env). A variable
// that is set, even to "", overrides the default: Kubeflow's manifests rely
// on that for KUBEFLOW_USERID_PREFIX="".
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	get := func(key, def string) string {
		if v, ok := lookup(key); ok {
			return v
		}
		return def
	}
	cfg := Config{
		UserIDHeader:        get("KUBEFLOW_USERID_HEADER", DefaultUserIDHeader),
		UserIDPrefix:        get("KUBEFLOW_USERID_PREFIX", DefaultUserIDPrefix),
		TokenReviewAudience: get("TOKEN_REVIEW_AUDIENCE", DefaultTokenReviewAudience),
		Namespace:           get("POD_NAMESPACE", DefaultNamespace),
		TagName:             get("TAG_NAME", unknownBuild),
		CommitSHA:           get("COMMIT_SHA", unknownBuild),
	}
	if v, ok := lookup("MULTIUSER"); ok && v != "" {
		// KFP reads it with viper.GetBool, i.e. strconv.ParseBool, and takes
		// anything else silently as false; a stand-in says so instead.
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("MULTIUSER=%q is not a boolean: %w", v, err)
		}
		cfg.MultiUser = b
	}
	return cfg, nil
}

// withDefaults fills what a hand-built Config left empty where KFP would
// never run with an empty value (the prefix may legitimately be empty).
func (c Config) withDefaults() Config {
	if c.UserIDHeader == "" {
		c.UserIDHeader = DefaultUserIDHeader
	}
	if c.TokenReviewAudience == "" {
		c.TokenReviewAudience = DefaultTokenReviewAudience
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.TagName == "" {
		c.TagName = unknownBuild
	}
	if c.CommitSHA == "" {
		c.CommitSHA = unknownBuild
	}
	return c
}
