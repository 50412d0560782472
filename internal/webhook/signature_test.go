package webhook

import (
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	body := []byte(`{"id":"a1","type":"anomaly.token_replay"}`)
	at := time.Unix(1767225600, 0)
	h := Sign(testSecret, body, at)
	// The documented example: HMAC-SHA256(secret, "1767225600." + body).
	if !strings.HasPrefix(h, "t=1767225600,v1=") || len(h) != len("t=1767225600,v1=")+64 {
		t.Fatalf("Sign = %q", h)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   string
	}{
		{"Good", testSecret, h, body, at.Add(time.Minute), ""},
		{"SecondSignatureMatches", testSecret, "t=1767225600,v1=" + strings.Repeat("00", 32) + "," + h[len("t=1767225600,"):], body, at, ""},
		{"WrongSecret", []byte("another secret of thirty-two b.."), h, body, at, "no matching signature"},
		{"BodyChanged", testSecret, h, append([]byte(nil), append(body, ' ')...), at, "no matching signature"},
		{"TooOld", testSecret, h, body, at.Add(6 * time.Minute), "outside the tolerance"},
		{"FromTheFuture", testSecret, h, body, at.Add(-6 * time.Minute), "outside the tolerance"},
		{"TimestampChanged", testSecret, strings.Replace(h, "t=1767225600", "t=1767225601", 1), body, at, "no matching signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.header, tc.body, tc.now, 0)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Verify = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseSignature(t *testing.T) {
	v := strings.Repeat("ab", 32)
	for _, tc := range []struct{ name, header, want string }{
		{"Good", "t=1,v1=" + v, ""},
		{"SpacesAndUnknownKeys", "t=1, v0=zz, v1=" + v, ""},
		{"MissingT", "v1=" + v, "missing t"},
		{"MissingV1", "t=1", "missing v1"},
		{"TwoT", "t=1,t=2,v1=" + v, "more than one t"},
		{"NegativeT", "t=-1,v1=" + v, "decimal"},
		{"HugeT", "t=99999999999999999999,v1=" + v, "decimal"},
		{"ShortV1", "t=1,v1=abcd", "64 hexadecimal"},
		{"NotHex", "t=1,v1=" + strings.Repeat("zz", 32), "64 hexadecimal"},
		{"NoEquals", "t=1,v1", "malformed element"},
		{"Empty", "", "malformed element"},
		{"TooLong", "t=1,v1=" + v + strings.Repeat(",x=y", 300), "too long"},
		{"TooMany", "t=1" + strings.Repeat(",v1="+v, 9), "too many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSignature(tc.header)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("ParseSignature(%q) = %v, want %q", tc.header, err, tc.want)
			}
		})
	}
}

func FuzzParseSignature(f *testing.F) {
	body := []byte(`{"id":"x"}`)
	f.Add(Sign(testSecret, body, time.Unix(1767225600, 0)))
	f.Add("t=1,v1=" + strings.Repeat("ab", 32))
	f.Add("t=,v1=")
	f.Add("t=1,,v1=" + strings.Repeat("AB", 32))
	f.Add("=,=,=")
	f.Fuzz(func(t *testing.T, h string) {
		sig, err := ParseSignature(h)
		if err != nil {
			return
		}
		if sig.Timestamp < 0 || len(sig.V1) == 0 || len(sig.V1) > 8 {
			t.Fatalf("accepted %q as %+v", h, sig)
		}
		for _, v := range sig.V1 {
			if len(v) != 32 {
				t.Fatalf("v1 of %d bytes from %q", len(v), h)
			}
		}
		// Whatever parses, only the right MAC verifies.
		if Verify(testSecret, h, body, time.Unix(sig.Timestamp, 0), 0) == nil {
			want := Sign(testSecret, body, time.Unix(sig.Timestamp, 0))
			if !strings.Contains(strings.ToLower(h), want[strings.Index(want, "v1=")+3:]) {
				t.Fatalf("%q verified without the signature", h)
			}
		}
	})
}
