package config

import (
	"testing"

	"github.com/gatehouse/gatehouse"
)

// TestDPoPRefusals: the DPoP keys of APIs, clients and tokens are checked
// like every other, each problem with its line and key.
func TestDPoPRefusals(t *testing.T) {
	runRefusals(t, []refusal{
		{"APIModeUnknown", demoAPI + "    dpop: yes\n", []string{"5 apis[0].dpop"}, "expected one of allowed, required"},
		{"APIModeTypo", demoAPI + "    dpop: requried\n", []string{"5 apis[0].dpop"}, `did you mean "required"?`},
		{"APIModeList", demoAPI + "    dpop: [required]\n", []string{"5 apis[0].dpop"}, "must be a string"},
		{"APINonceNotBool", demoAPI + "    dpop_nonce: always\n", []string{"5 apis[0].dpop_nonce"}, "expected true or false"},
		{"APINonceQuoted", demoAPI + "    dpop_nonce: \"true\"\n", []string{"5 apis[0].dpop_nonce"}, "write true or false without quotes"},
		{"APIRequiredWithExternalIssuers", issuerAPI + "      - path: /x\n    dpop: required\n", []string{"15 apis[0].dpop"}, "tokens of external_issuers would never be accepted"},
		{"ClientModeUnknown", demoClient + "    dpop: on\n", []string{"7 clients[0].dpop"}, "expected one of allowed, required"},
		{"TokensNonceNotBool", "tokens:\n  dpop_nonce: 1\n", []string{"2 tokens.dpop_nonce"}, "expected true or false"},
	})
}

func TestDPoPAccepts(t *testing.T) {
	runAccepts(t, []acceptance{
		{"APIDefaultAllowed", demoAPI, func(c *Config) any { return c.APIs[0].DPoP }, gatehouse.DPoPMode("")},
		{"APIRequired", demoAPI + "    dpop: required\n    dpop_nonce: true\n",
			func(c *Config) any { return [2]any{c.APIs[0].DPoP, c.APIs[0].DPoPNonce} }, [2]any{gatehouse.DPoPRequired, true}},
		{"APIAllowedExplicit", demoAPI + "    dpop: allowed\n", func(c *Config) any { return c.APIs[0].DPoP }, gatehouse.DPoPAllowed},
		{"ClientRequired", demoClient + "    dpop: required\n", func(c *Config) any { return c.Clients[0].DPoPBound }, true},
		{"ClientAllowed", demoClient + "    dpop: allowed\n", func(c *Config) any { return c.Clients[0].DPoPBound }, false},
		{"TokensNonce", "tokens:\n  dpop_nonce: true\n", func(c *Config) any { return c.Tokens.DPoPNonce }, true},
	})
}
