// Command brokeninit stands in for a broken init in the appliance update
// test: it exits at once, so the kernel panics and reboots (panic=10), and
// the firmware and systemd-boot must start the previous build.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "brokeninit: this init is broken on purpose")
	os.Exit(1)
}
