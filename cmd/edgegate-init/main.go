// Command edgegate-init is /gokrazy/init on the edgegate appliance: PID 1
// (gokrazy Boot, supervision, update trial; see package appliance), and,
// run as "init gateway" by itself, the gateway launcher with the
// provisioning watcher.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgegate/edgegate/appliance"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gateway" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		l := &appliance.Launcher{Console: appliance.OpenConsole(true)}
		if err := l.Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "edgegate launcher:", err)
			os.Exit(1)
		}
		return
	}
	if err := appliance.Init(); err != nil {
		fmt.Fprintln(os.Stderr, "edgegate init:", err)
		os.Exit(1)
	}
}
