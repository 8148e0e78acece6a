// Command mkimage builds the edgegate appliance image (see package images):
//
//	go run ./images/cmd/mkimage -target amd64
//
// (or make image TARGET=amd64) writes build/amd64/disk.img (flash it with scripts/flash.sh) and the update
// parts build/amd64/boot.img and root.img (push them with edgegate update).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/edgegate/edgegate/images"
)

func main() {
	var opts images.Options
	flag.StringVar(&opts.Target, "target", "amd64", "amd64 (UEFI PC), rpi (Raspberry Pi 4/5) or arm64 (qemu -M virt)")
	out := flag.String("out", "build", "output root: the image goes to <out>/<target>/")
	flag.StringVar(&opts.Hostname, "hostname", "edgegate", "appliance hostname (partition ids derive from it)")
	flag.StringVar(&opts.PasswordFile, "password-file", "", "device update password file (default build/gokr-pw.txt, created when missing)")
	flag.StringVar(&opts.GatewayPkg, "gateway-pkg", "./cmd/edgegate", "Go package installed as /user/edgegate")
	flag.StringVar(&opts.InitPkg, "init-pkg", "./cmd/edgegate-init", "Go package installed as /gokrazy/init")
	flag.Int64Var(&opts.Perm, "perm-mib", images.DefaultPerm>>20, "/perm size in MiB")
	flag.BoolVar(&opts.PermOnDevice, "perm-on-device", false, "leave /perm empty: the appliance formats it on first boot")
	flag.DurationVar(&opts.TrialTimeout, "trial-timeout", 3*time.Minute, "how long an updated build has to become healthy before the device falls back")
	flag.Parse()
	opts.Perm <<= 20
	opts.OutDir = filepath.Join(*out, opts.Target)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	res, err := images.Build(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "built %s in %.1fs\n", res.BuildID, time.Since(start).Seconds())
}
