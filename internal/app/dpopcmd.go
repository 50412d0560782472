package app

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/jose"
)

// runDPoP is `gatehouse dpop keygen|proof`: the client side of DPoP
// (RFC 9449) for trying an API with curl. keygen writes a private JWK
// (mode 0600, never over an existing file) and prints its thumbprint, the
// dpop_jkt of an authorization request; proof prints one proof for a
// method and URL, bound to an access token with --token.
func runDPoP(args []string, now func() time.Time, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: gatehouse dpop keygen|proof [flags]\n")
		return ExitUsage
	}
	fs := flag.NewFlagSet("dpop "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var code int
	switch args[0] {
	case "keygen":
		out := fs.String("out", "", "`file` to write the private JWK to (required; created with mode 0600)")
		alg := fs.String("alg", string(jose.ES256), "key `algorithm`: ES256 or EdDSA")
		if code = parseDPoPFlags(fs, args[1:]); code != ExitOK {
			return code
		}
		if *out == "" {
			fmt.Fprintln(stderr, "gatehouse dpop keygen: --out FILE is required")
			return ExitUsage
		}
		return dpopKeygen(*out, jose.Algorithm(*alg), stdout, stderr)
	case "proof":
		keyFile := fs.String("key", "", "private JWK `file` written by gatehouse dpop keygen (required)")
		method := fs.String("method", "", "HTTP `method` of the request (required)")
		target := fs.String("url", "", "absolute `URL` of the request (required)")
		tok := fs.String("token", "", "access `token` the request carries (sets ath)")
		nonce := fs.String("nonce", "", "server `nonce` from a DPoP-Nonce header")
		if code = parseDPoPFlags(fs, args[1:]); code != ExitOK {
			return code
		}
		if *keyFile == "" || *method == "" || *target == "" {
			fmt.Fprintln(stderr, "gatehouse dpop proof: --key, --method and --url are required")
			return ExitUsage
		}
		data, err := os.ReadFile(*keyFile)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse dpop proof: %v\n", err)
			return ExitError
		}
		k, err := dpop.ParsePrivateJWK(data)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse dpop proof: %s: %v\n", *keyFile, err)
			return ExitError
		}
		p, err := k.Proof(*method, *target, *tok, *nonce, now())
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse dpop proof: %v\n", err)
			return ExitError
		}
		fmt.Fprintln(stdout, p)
		return ExitOK
	}
	fmt.Fprintf(stderr, "gatehouse dpop: unknown command %q; expected keygen or proof\n", args[0])
	return ExitUsage
}

func parseDPoPFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		return ExitUsage // the flag package has said why, or printed the help
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "gatehouse dpop: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	return ExitOK
}

func dpopKeygen(out string, alg jose.Algorithm, stdout, stderr io.Writer) int {
	k, err := dpop.GenerateKey(alg)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse dpop keygen: %v\n", err)
		return ExitUsage
	}
	data, err := k.MarshalPrivateJWK()
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse dpop keygen: %v\n", err)
		return ExitError
	}
	jkt, err := k.Thumbprint()
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse dpop keygen: %v\n", err)
		return ExitError
	}
	if err := writeSecretFile(out, string(data)); err != nil {
		fmt.Fprintf(stderr, "gatehouse dpop keygen: %v\n", err)
		return ExitError
	}
	fmt.Fprintln(stdout, jkt)
	return ExitOK
}
