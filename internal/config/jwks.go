package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on an inline JWK Set. A real one is a handful of keys; the limits
// stop aliases (which may nest, or even contain themselves) from expanding
// without end.
const (
	maxJWKSNodes = 10000
	maxJWKSDepth = 16
)

// inlineJWKS converts an inline JWK Set to compact JSON and checks its
// shape. Scalars are interpolated like any other value. A string is taken
// as the JSON text of the set, so that `jwks: ${CLIENT_JWKS}` works.
func (d *decoder) inlineJWKS(n *yaml.Node, path string) []byte {
	var b bytes.Buffer
	if r := resolve(n); r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		s, ok := d.interpolate(r, path)
		if !ok {
			return nil
		}
		if msg := checkJWKS([]byte(s)); msg != "" {
			d.reportAt(r, path, "%s", msg)
			return nil
		}
		_ = json.Compact(&b, []byte(s)) // checkJWKS made sure it is valid JSON
		return b.Bytes()
	}
	budget := maxJWKSNodes
	if !d.toJSON(&b, n, path, 0, &budget) {
		return nil
	}
	if msg := checkJWKS(b.Bytes()); msg != "" {
		d.reportAt(resolve(n), path, "%s", msg)
		return nil
	}
	return b.Bytes()
}

// fileJWKS reads a JWK Set file, relative to the config file's directory.
func (d *decoder) fileJWKS(line int, path, file string) []byte {
	p := d.resolvePath(file)
	data, err := d.readFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		d.report(line, path, "%q does not exist (looked for %s); expected a JWK Set file, its path relative to the config file's directory", file, filepath.ToSlash(p))
		return nil
	} else if err != nil {
		d.report(line, path, "cannot read %q: %v; expected a JWK Set file, its path relative to the config file's directory", file, err)
		return nil
	}
	if msg := checkJWKS(data); msg != "" {
		d.report(line, path, "%q %s", file, msg)
		return nil
	}
	var b bytes.Buffer
	_ = json.Compact(&b, data) // checkJWKS made sure it is valid JSON
	return b.Bytes()
}

// checkJWKS checks that data looks like a JWK Set of public keys (RFC 7517
// section 5) and returns what is wrong, or "". The token package validates
// the keys themselves.
func checkJWKS(data []byte) string {
	const expected = `; expected a JWK Set: {"keys": [{"kty": "EC", "crv": "P-256", "x": "...", "y": "..."}]}`
	if !json.Valid(data) {
		return "is not valid JSON" + expected
	}
	var set map[string]json.RawMessage
	if err := json.Unmarshal(data, &set); err != nil || set == nil {
		return "is not a JSON object" + expected
	}
	raw, ok := set["keys"]
	if !ok {
		return `has no "keys"` + expected
	}
	var keys []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil || keys == nil {
		return `has "keys" that is not an array of JWK objects` + expected
	}
	if len(keys) == 0 {
		return `has an empty "keys" array; expected the client's public keys`
	}
	for i, k := range keys {
		switch {
		case k == nil:
			return fmt.Sprintf("has keys[%d] that is not a JWK object%s", i, expected)
		case k["kty"] == nil:
			return fmt.Sprintf(`has keys[%d] without "kty"%s`, i, expected)
		case k["d"] != nil:
			return fmt.Sprintf(`has keys[%d] with private key material ("d"); give only the public key, and keep the private one with the client`, i)
		case k["k"] != nil:
			return fmt.Sprintf(`has keys[%d] that is a symmetric key ("k"); private_key_jwt needs the client's public keys`, i)
		}
	}
	return ""
}

// toJSON writes n as JSON. It reports the first problem and returns false.
func (d *decoder) toJSON(b *bytes.Buffer, n *yaml.Node, path string, depth int, budget *int) bool {
	n = resolve(n)
	if *budget--; *budget < 0 || depth > maxJWKSDepth {
		d.reportAt(n, path, "is too large or too deeply nested for a JWK Set; expected a few keys")
		return false
	}
	switch {
	case n == nil:
		b.WriteString("null")
	case n.Kind == yaml.MappingNode:
		b.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			if k == nil || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				d.reportAt(n.Content[i], path, "has a key that is %s; JSON member names must be strings", kindName(k))
				return false
			}
			if seen[k.Value] {
				d.reportAt(k, join(path, k.Value), "is set twice; keep one")
				return false
			}
			seen[k.Value] = true
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k.Value)
			b.WriteByte(':')
			if !d.toJSON(b, n.Content[i+1], join(path, k.Value), depth+1, budget) {
				return false
			}
		}
		b.WriteByte('}')
	case n.Kind == yaml.SequenceNode:
		b.WriteByte('[')
		for i, it := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if !d.toJSON(b, it, index(path, i), depth+1, budget) {
				return false
			}
		}
		b.WriteByte(']')
	case n.Kind == yaml.ScalarNode:
		return d.scalarJSON(b, n, path)
	default:
		d.reportAt(n, path, "is %s, which JSON cannot represent", kindName(n))
		return false
	}
	return true
}

func (d *decoder) scalarJSON(b *bytes.Buffer, n *yaml.Node, path string) bool {
	switch n.ShortTag() {
	case "!!null":
		b.WriteString("null")
	case "!!bool":
		b.WriteString(strings.ToLower(n.Value))
	case "!!int":
		v, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			d.reportAt(n, path, "%s is not an integer JSON can hold; quote it to make it a string", n.Value)
			return false
		}
		b.WriteString(strconv.FormatInt(v, 10))
	case "!!float":
		v, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			d.reportAt(n, path, "%s is not a number JSON can hold; quote it to make it a string", n.Value)
			return false
		}
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case "!!str":
		s, ok := d.interpolate(n, path)
		if !ok {
			return false
		}
		writeJSONString(b, s)
	default:
		d.reportAt(n, path, "has the tag %s, which JSON cannot represent; use plain strings, numbers and booleans", n.Tag)
		return false
	}
	return true
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}
