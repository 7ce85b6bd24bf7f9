package config

import (
	"crypto/rand"
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
	newSecretBytes = 32
)

var errSecret = errors.New("not a valid secret: write whsec_ followed by the base64 of 24 to 64 random bytes; generate one with: walhook secret generate")

// CheckSecret reports whether s is a well-formed signing secret: whsec_
// followed by standard base64 (padded or not) of 24 to 64 bytes. The error
// never contains the secret.
func CheckSecret(s string) error {
	_, err := SecretKey(s)
	return err
}

// SecretKey returns the HMAC key a secret stands for (the decoded bytes
// after whsec_). The error never contains the secret.
func SecretKey(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, errSecret
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, errSecret
	}
	return key, nil
}

// NewSecret returns a fresh signing secret of 32 random bytes, the form
// `walhook secret generate` prints.
func NewSecret() string {
	key := make([]byte, newSecretBytes)
	rand.Read(key) // never fails (crypto/rand crashes the program instead)
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}
