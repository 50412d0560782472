//go:build pprof

// Profiling build: `go build -tags pprof ./cmd/gatehouse`, then set
// GATEHOUSE_PPROF_ADDR (a loopback address) to serve net/http/pprof there.
// Never part of a release build: the default build has no such endpoint.
package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("GATEHOUSE_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
