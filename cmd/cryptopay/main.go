// Command cryptopay is the CryptoPay payment gateway: one binary that serves
// the merchant API, watches chains and delivers webhooks, plus the
// operator's subcommands. Run `cryptopay help` for the list.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cryptopay/cryptopay/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{
		Getenv: os.Getenv,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	stop()
	os.Exit(code)
}
