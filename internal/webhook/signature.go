package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of a delivery:
//
//	Gatehouse-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// t is the Unix time of the attempt, v1 the lower-case hex HMAC-SHA256,
// keyed with the endpoint's secret, of the ASCII decimal t, a full stop and
// the raw request body. A receiver recomputes it over the body bytes it
// read (before any JSON parsing), compares in constant time, and refuses a
// t more than a few minutes from its clock, so a captured delivery cannot
// be replayed later. Several v1 values may appear (one per secret while a
// secret is being rotated); one match is enough.
const SignatureHeader = "Gatehouse-Signature"

// Sign returns the signature header value for body sent at t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// maxHeader bounds the header a parser reads: a few signatures fit easily.
const maxHeader = 1024

// Signature is a parsed signature header.
type Signature struct {
	Timestamp int64
	V1        [][]byte // each 32 bytes
}

// ParseSignature parses a Gatehouse-Signature value strictly: comma
// separated key=value pairs, exactly one t (decimal seconds), at least one
// v1 (64 hex digits); unknown keys are ignored so that a later scheme can
// be added beside v1.
func ParseSignature(h string) (Signature, error) {
	var sig Signature
	if len(h) > maxHeader {
		return sig, errors.New("signature header too long")
	}
	seenT := false
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return sig, fmt.Errorf("malformed element %q; expected key=value", truncate(part))
		}
		switch k {
		case "t":
			if seenT {
				return sig, errors.New("more than one t")
			}
			seenT = true
			if v == "" || len(v) > 12 || strings.TrimLeft(v, "0123456789") != "" {
				return sig, errors.New("t must be decimal Unix seconds")
			}
			sig.Timestamp, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			if len(v) != 2*sha256.Size {
				return sig, errors.New("v1 must be 64 hexadecimal digits")
			}
			b, err := hex.DecodeString(v)
			if err != nil {
				return sig, errors.New("v1 must be 64 hexadecimal digits")
			}
			if len(sig.V1) == 8 {
				return sig, errors.New("too many v1 signatures")
			}
			sig.V1 = append(sig.V1, b)
		}
	}
	if !seenT {
		return sig, errors.New("missing t")
	}
	if len(sig.V1) == 0 {
		return sig, errors.New("missing v1")
	}
	return sig, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Verify checks a delivery as a receiver should: header is the
// Gatehouse-Signature value, body the raw body, now the receiver's clock.
// tolerance 0 means DefaultTolerance.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sig, err := ParseSignature(header)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(sig.Timestamp, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside the tolerance")
	}
	want := mac(secret, strconv.FormatInt(sig.Timestamp, 10), body)
	for _, v := range sig.V1 {
		if hmac.Equal(v, want) {
			return nil
		}
	}
	return errors.New("no matching signature")
}
