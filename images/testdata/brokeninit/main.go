// Command brokeninit stands in for a broken init in the appliance update
// test: it exits at once, so the kernel panics and reboots (panic=10), and
// the firmware and systemd-boot must start the previous build.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	fmt.Fprintln(os.Stderr, "brokeninit: this init is broken on purpose")
	// The line sits in the console's output queue: an init that exits at
	// once can take it down with the kernel panic before the serial port
	// sent it.
	time.Sleep(2 * time.Second)
	os.Exit(1)
}
