package config

import (
	"encoding/base64"
	"errors"
	"strings"
)

// SecretPrefix starts every webhook signing secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// Secret sizes in random bytes, before base64.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

var errSecret = errors.New("not a valid secret: write whsec_ followed by the base64 of 24 to 64 random bytes; generate one with: walhook secret generate")

// CheckSecret reports whether s is a well-formed signing secret: whsec_
// followed by standard base64 (padded or not) of 24 to 64 bytes, stricter
// than what deliver.ParseSecret accepts. The error never contains the
// secret. deliver.GenerateSecret makes secrets that pass.
func CheckSecret(s string) error {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return errSecret
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return errSecret
	}
	return nil
}
