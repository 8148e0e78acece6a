// Command cloudgate is the edgegate reference control plane: `cloudgate
// serve` runs a Cloud Gate, the other commands operate one. See package
// cloudgate/cli and docs/cloudgate.md.
package main

import (
	"context"
	"os"

	"github.com/edgegate/edgegate/cloudgate/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
