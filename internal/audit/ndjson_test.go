package audit_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/google/go-cmp/cmp"
)

func exportLines(t testing.TB, es []*gatehouse.AuditEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, e := range es {
		line, err := audit.MarshalLine(e)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(line)
	}
	return buf.Bytes()
}

func TestNDJSONRoundTrip(t *testing.T) {
	es := chain(t, 5)
	data := exportLines(t, es)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5", len(lines))
	}
	for i, l := range lines {
		got, err := audit.ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if d := cmp.Diff(got, es[i]); d != "" {
			t.Errorf("line %d (-got +want):\n%s", i+1, d)
		}
	}
	kr := newKeyring(t, "k1")
	r, err := audit.VerifyNDJSON(bytes.NewReader(data), audit.Checkpoints{Stored: []string{signCheckpoint(t, kr, 5, es[4].Hash)}}, kr)
	if err != nil || !r.OK() || r.Entries != 5 || r.Checkpoints != 1 {
		t.Fatalf("VerifyNDJSON: %+v %v", r, err)
	}
	edited := bytes.Replace(data, []byte(`"actor":"client-2"`), []byte(`"actor":"client-9"`), 1)
	if r, _ := audit.VerifyNDJSON(bytes.NewReader(edited), audit.Checkpoints{}, kr); r.FirstBad() != 3 {
		t.Errorf("edited export: first bad %d, want 3: %v", r.FirstBad(), r.Problems)
	}
	cut := data[:bytes.Index(data, []byte(`{"seq":4`))]
	if r, _ := audit.VerifyNDJSON(bytes.NewReader(cut), audit.Checkpoints{Stored: []string{signCheckpoint(t, kr, 5, es[4].Hash)}}, kr); r.FirstBad() != 4 {
		t.Errorf("cut export: first bad %d, want 4: %v", r.FirstBad(), r.Problems)
	}
}

func TestParseLineRefuses(t *testing.T) {
	good, err := audit.MarshalLine(chain(t, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	good = bytes.TrimSuffix(good, []byte("\n"))
	if _, err := audit.ParseLine(good); err != nil {
		t.Fatalf("good line refused: %v", err)
	}
	rep := func(old, new string) []byte { return bytes.Replace(good, []byte(old), []byte(new), 1) }
	for _, tc := range []struct {
		name string
		line []byte
		want string
	}{
		{"NotJSON", []byte("seq=1"), "entry"},
		{"Array", []byte("[1]"), "entry"},
		{"Duplicate", rep(`"seq":1,`, `"seq":1,"seq":2,`), "duplicate"},
		{"DuplicateFolded", rep(`"seq":1,`, `"seq":1,"SEQ":2,`), "duplicate"},
		{"Unknown", rep(`"seq":1,`, `"seq":1,"extra":true,`), "unknown field"},
		{"Missing", rep(`"actor":"client-0",`, ``), "missing"},
		{"ZeroSeq", rep(`"seq":1,`, `"seq":0,`), "not positive"},
		{"SeqString", rep(`"seq":1,`, `"seq":"1",`), "entry"},
		{"BadTime", rep(`"time":"2031`, `"time":"x2031`), "time"},
		{"DetailsNotObject", rep(`"details":{"address":"127.0.0.1","note":"\u003c\u0026\u003e ü","status":"200"}`, `"details":["a"]`), "JSON object"},
		{"DetailsSpaced", rep(`"details":{`, `"details":{ `), "compact"},
		{"ShortHash", rep(`"hash":"`, `"hash":"0`), "hash"},
		{"UpperHex", []byte(strings.Replace(string(good), `"hash":"`+strings.Split(strings.Split(string(good), `"hash":"`)[1], `"`)[0],
			`"hash":"`+strings.ToUpper(strings.Split(strings.Split(string(good), `"hash":"`)[1], `"`)[0]), 1)), "lower-case"},
		{"Trailing", append(bytes.Clone(good), []byte(" {}")...), "entry"},
		{"TooLong", bytes.Repeat([]byte(" "), audit.MaxLineLen+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.ParseLine(tc.line)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseLine: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// FuzzParseLine: no input panics, and whatever parses writes back to a line
// that parses to the same entry with the same computed hash.
func FuzzParseLine(f *testing.F) {
	for _, e := range chain(f, 3) {
		line, _ := audit.MarshalLine(e)
		f.Add(bytes.TrimSuffix(line, []byte("\n")))
	}
	f.Add([]byte(`{"seq":1}`))
	f.Add([]byte(`{"seq":1,"time":"2031-03-04T05:06:07Z","actor":"","action":"","target_type":"","target_id":"","outcome":"","details":{"a":"\u003c"},"prev_hash":"` +
		strings.Repeat("0", 64) + `","hash":"` + strings.Repeat("a", 64) + `"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := audit.ParseLine(line)
		if err != nil {
			return
		}
		out, err := audit.MarshalLine(e)
		if err != nil {
			t.Fatalf("a parsed entry does not marshal: %v", err)
		}
		again, err := audit.ParseLine(bytes.TrimSuffix(out, []byte("\n")))
		if err != nil {
			t.Fatalf("own output %q refused: %v", out, err)
		}
		if !again.Time.Equal(e.Time) || !bytes.Equal(audit.Hash(again), audit.Hash(e)) {
			t.Fatalf("round trip changed the entry:\n%+v\n%+v", e, again)
		}
	})
}

// FuzzVerifyNDJSON: verification of any input ends without panicking, and
// any change to a valid export is either refused or harmless (verifies
// only if every entry still hashes and links).
func FuzzVerifyNDJSON(f *testing.F) {
	es := chain(f, 4)
	data := exportLines(f, es)
	f.Add(data, 0, byte(0))
	f.Add(data, 40, byte('x'))
	f.Add([]byte("\n\n{}\n"), 1, byte('{'))
	kr := newKeyring(f, "k1")
	cps := []string{signCheckpoint(f, kr, 4, es[3].Hash)}
	f.Fuzz(func(t *testing.T, data []byte, pos int, b byte) {
		if len(data) > 0 && pos >= 0 {
			data = bytes.Clone(data)
			data[pos%len(data)] = b
		}
		r, err := audit.VerifyNDJSON(bytes.NewReader(data), audit.Checkpoints{Stored: cps}, kr)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() {
			return
		}
		// Intact: then it holds exactly the signed chain's 4 entries, or
		// the change only touched whitespace between lines.
		if r.Head.Seq != 4 || !bytes.Equal(r.Head.Hash, es[3].Hash) {
			t.Fatalf("a chain other than the signed one verified: head %d %x", r.Head.Seq, r.Head.Hash)
		}
	})
}

// BenchmarkAppend measures appends to a real SQLite store, each its own
// transaction, and reports entries per second.
func BenchmarkAppend(b *testing.B) {
	db := openStore(b)
	l := &audit.Log{Store: db}
	ctx := context.Background()
	r := audit.Record{Actor: "admin", Action: "POST /admin/v1/apps/{id}/suspend", TargetType: "apps", TargetID: "app-123",
		Outcome: gatehouse.AuditSuccess, Details: map[string]string{"status": "200", "address": "127.0.0.1", "client_id": "admin"}}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := l.Append(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkVerify measures verification speed from the store.
func BenchmarkVerify(b *testing.B) {
	db := openStore(b)
	l := &audit.Log{Store: db}
	ctx := context.Background()
	const n = 5000
	for range n {
		if _, err := l.Append(ctx, audit.Record{Actor: "a", Action: "x", Outcome: "success"}); err != nil {
			b.Fatal(err)
		}
	}
	kr := newKeyring(b, "k1")
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		r, err := audit.Verify(ctx, db, audit.Checkpoints{}, kr)
		if err != nil || !r.OK() {
			b.Fatal(err, r)
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "entries/s")
}

// FuzzVerifyCheckpoint: no JWS panics the checkpoint check, and nothing
// but what the key signed is accepted.
func FuzzVerifyCheckpoint(f *testing.F) {
	kr := newKeyring(f, "k1")
	h := bytes.Repeat([]byte{0xab}, 32)
	good := signCheckpoint(f, kr, 7, h)
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.eyJzZXEiOjF9.")
	f.Fuzz(func(t *testing.T, jws string) {
		seq, hash, _, err := audit.VerifyCheckpoint(jws, kr)
		if err != nil {
			return
		}
		if seq != 7 || !bytes.Equal(hash, h) {
			t.Fatalf("accepted a checkpoint naming %d %x that the key never signed", seq, hash)
		}
	})
}

// FuzzReadCheckpointFile: no file content panics the reader.
func FuzzReadCheckpointFile(f *testing.F) {
	f.Add([]byte("{\"seq\":1,\"hash\":\"ab\",\"time\":\"t\",\"jws\":\"a.b.c\"}\n"))
	f.Add([]byte("{\"jws\":\"a\"}\n{\"jws\":\"a\",\"JWS\":\"b\"}\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "c.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		jwss, err := audit.ReadCheckpointFile(p)
		if err == nil && len(jwss) > bytes.Count(data, []byte("\n")) {
			t.Fatalf("%d checkpoints from %d lines", len(jwss), bytes.Count(data, []byte("\n")))
		}
	})
}
