package persist

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs the test binary as a helper child when the crash or the
// file-size-limit test re-executes it.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		exitChild("crash child", crashChild(path, os.Stdout))
	}
	if dir := os.Getenv(fsizeChildEnv); dir != "" {
		exitChild("file-size-limit child", fileSizeChild(dir))
	}
	os.Exit(m.Run())
}

func exitChild(name string, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
	os.Exit(0)
}
