package controlplane

import (
	"testing"

	"github.com/edgegate/edgegate/persist"
)

func TestStateOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want int64 // 0: persist's defaults (nil options)
	}{
		{"connected gateway", Options{}, 0},
		{"local mode", Options{APIsDir: "apis"}, LocalSpoolMaxBytes},
		{"explicit bound wins", Options{APIsDir: "apis", SpoolMaxBytes: 1 << 30}, 1 << 30},
		{"explicit bound, connected", Options{SpoolMaxBytes: 64 << 20}, 64 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := stateOptions(tc.opts)
			switch {
			case tc.want == 0 && got != nil:
				t.Fatalf("got %+v, want persist's defaults", got)
			case tc.want != 0 && (got == nil || got.MaxSpoolBytes != tc.want):
				t.Fatalf("got %+v, want MaxSpoolBytes %d", got, tc.want)
			}
		})
	}
	if persist.DefaultMaxSpoolBytes <= LocalSpoolMaxBytes {
		t.Fatal("the local bound must be below the connected default")
	}
}
