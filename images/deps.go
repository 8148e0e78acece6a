//go:build tools

package images

// These blank imports keep the kernel and firmware modules required in
// go.mod: the image builder reads their files (vmlinuz, modules, device
// trees, Pi firmware) from the module cache, and no Go code imports them.
// The gokrazy programs the image carries are listed too, so go.mod and
// go.sum pin everything they build from and `make image` changes neither.
import (
	_ "github.com/gokrazy/firmware"
	_ "github.com/gokrazy/gokrazy/cmd/dhcp"
	_ "github.com/gokrazy/gokrazy/cmd/ntp"
	_ "github.com/gokrazy/gokrazy/cmd/randomd"
	_ "github.com/gokrazy/kernel.amd64"
	_ "github.com/gokrazy/kernel.arm64"
	_ "github.com/gokrazy/kernel.rpi"
)
