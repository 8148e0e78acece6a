package controlplane

import (
	"testing"
	"time"
)

func TestCredentialNewerWins(t *testing.T) {
	db := openDB(t)
	n := &node{db: db, log: testLogger(t), status: &status{}}
	issued := map[string]time.Time{
		"old": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		"new": time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
	}
	at := func(text string) (time.Time, error) { return issued[text], nil }
	for _, tc := range []struct {
		name, given, want string
	}{
		{"first copy is kept", "old", "old"},
		{"nothing given uses the copy", "", "old"},
		{"a newer one replaces it", "new", "new"},
		{"an older one does not", "old", "new"},
		{"the copy is still the newer", "", "new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := n.credential(CredentialToken, tc.given, at)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("using %q, want %q", got, tc.want)
			}
		})
	}
}
