package kfp

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Envelope is KFP's error body. Servers up to 2.5 send "error" as well as
// "message"; newer ones (grpc-gateway v2) send "message" only.
type Envelope struct {
	Error   string   `json:"error,omitempty"`
	Code    int      `json:"code"`
	Message string   `json:"message"`
	Details []Detail `json:"details,omitempty"`
}

// Detail is one google.rpc.Status detail.
type Detail struct {
	Type    string `json:"@type"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Text is the fullest message the envelope carries.
func (e *Envelope) Text() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Error
}

// Short is the short message of the first detail, or Text.
func (e *Envelope) Short() string {
	if len(e.Details) > 0 && e.Details[0].Message != "" {
		return e.Details[0].Message
	}
	return e.Text()
}

var errNotEnvelope = errors.New("not a KFP error envelope")

// ParseEnvelope parses an error body. It fails on anything that is not a JSON
// object with a non-zero code and a message.
func ParseEnvelope(body []byte) (*Envelope, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotEnvelope, err)
	}
	if _, ok := raw["code"]; !ok {
		return nil, fmt.Errorf("%w: no code", errNotEnvelope)
	}
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotEnvelope, err)
	}
	if e.Code == 0 || e.Text() == "" {
		return nil, fmt.Errorf("%w: code %d, message %q", errNotEnvelope, e.Code, e.Text())
	}
	return &e, nil
}
