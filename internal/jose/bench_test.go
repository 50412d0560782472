package jose

import (
	"testing"
)

// A realistic access token payload (RFC 9068 claims).
var benchPayload = []byte(`{"iss":"https://gatehouse.example","sub":"5f3c1a9e-8d2b-4c7e-9f10-2a6b3c4d5e6f","aud":"https://api.example.com/orders","client_id":"s6BhdRkqt3","scope":"orders:read orders:write","jti":"b7e2c3a4-1f5d-4e6a-8b9c-0d1e2f3a4b5c","iat":1718000000,"exp":1718000900,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`)

var benchAlgs = []Algorithm{EdDSA, ES256, RS256, PS256}

func BenchmarkParse(b *testing.B) {
	keys := keysOnce()
	token, err := Sign(ES256, "2024-06-k1", "at+jwt", keys.p256, benchPayload)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(token)))
	for b.Loop() {
		if _, err := Parse(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	keys := keysOnce()
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			token, err := Sign(alg, "k1", "at+jwt", keys.signerFor(alg), benchPayload)
			if err != nil {
				b.Fatal(err)
			}
			j, err := Parse(token)
			if err != nil {
				b.Fatal(err)
			}
			key := keys.publicFor(alg, "k1")
			b.ReportAllocs()
			for b.Loop() {
				if err := j.Verify(key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseVerifyDecode is the whole cache-miss path of the gateway for
// this layer: Parse, Verify and the strict claims decode.
func BenchmarkParseVerifyDecode(b *testing.B) {
	keys := keysOnce()
	type claims struct {
		Iss      string `json:"iss"`
		Sub      string `json:"sub"`
		Aud      string `json:"aud"`
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
		Jti      string `json:"jti"`
		Iat      int64  `json:"iat"`
		Exp      int64  `json:"exp"`
	}
	for _, alg := range []Algorithm{EdDSA, ES256, RS256} {
		b.Run(string(alg), func(b *testing.B) {
			token, err := Sign(alg, "k1", "at+jwt", keys.signerFor(alg), benchPayload)
			if err != nil {
				b.Fatal(err)
			}
			key := keys.publicFor(alg, "k1")
			b.ReportAllocs()
			for b.Loop() {
				j, err := Parse(token)
				if err != nil {
					b.Fatal(err)
				}
				if err := j.Verify(key); err != nil {
					b.Fatal(err)
				}
				var c claims
				if err := DecodeJSON(j.Payload, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	keys := keysOnce()
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			signer := keys.signerFor(alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(alg, "k1", "at+jwt", signer, benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckJSON is what strictness adds to encoding/json for a claims set.
func BenchmarkCheckJSON(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPayload)))
	for b.Loop() {
		if err := checkJSON(benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}
