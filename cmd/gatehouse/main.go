// Command gatehouse runs the Gatehouse API gateway and authorization server.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse/gatehouse/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
