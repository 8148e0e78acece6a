package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/edgegate/edgegate/provisioning"
)

// provisionCmd writes a provisioning stick image: edgegate provision
// --token-file F --license-file L [--config-file edgegate.json] --out prov.img
func provisionCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgegate provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	token := fs.String("token-file", "", "cloud-token file (from cloudgate gateway create)")
	license := fs.String("license-file", "", "license.key file")
	config := fs.String("config-file", "", "optional edgegate.json with appliance settings")
	out := fs.String("out", "prov.img", "image to write (dd it onto a USB stick)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *token == "" || *license == "" {
		fmt.Fprintln(stderr, "edgegate provision: --token-file and --license-file are required")
		return 2
	}
	if err := provision(*token, *license, *config, *out); err != nil {
		fmt.Fprintln(stderr, "edgegate provision:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (FAT, label %s): write it to a USB stick with\n  sudo dd if=%s of=/dev/sdX bs=1M conv=fsync\nand plug it into the appliance\n", *out, provisioning.StickLabel, *out)
	return 0
}

func provision(tokenFile, licenseFile, configFile, out string) error {
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return err
	}
	lic, err := os.ReadFile(licenseFile)
	if err != nil {
		return err
	}
	files := &provisioning.Files{Source: tokenFile, Token: string(tok), License: string(lic)}
	if configFile != "" {
		if files.Config, err = os.ReadFile(configFile); err != nil {
			return err
		}
	}
	// Check now what the appliance will check, so a bad stick is caught here.
	if _, err := files.Validate(time.Now(), nil); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := provisioning.WriteStickImage(f, files, time.Now()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
