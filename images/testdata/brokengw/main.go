// Command brokengw stands in for a broken gateway build in the appliance
// update test: it exits at once, so the new build never becomes healthy and
// the device must fall back to the previous one.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "brokengw: this build is broken on purpose")
	os.Exit(1)
}
