package persist

import (
	"errors"
	"testing"
	"time"
)

func TestCredentialNewerReplacesOlder(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		text         string
		issuedAt     time.Time
		wantReplaced bool
		wantText     string
	}{
		{"token-1", t0, true, "token-1"},
		{"token-2", t0.Add(time.Hour), true, "token-2"},
		{"token-old", t0.Add(time.Minute), false, "token-2"},
		{"token-same-time", t0.Add(time.Hour), false, "token-2"},
		{"token-3", t0.Add(2 * time.Hour), true, "token-3"},
	}
	for _, kind := range []string{CredentialCloudToken, CredentialLicense} {
		t.Run(kind, func(t *testing.T) {
			db, _ := openTest(t, nil)
			if _, _, err := db.LoadCredential(kind); !errors.Is(err, ErrNoCredential) {
				t.Fatalf("empty LoadCredential = %v, want ErrNoCredential", err)
			}
			for _, st := range steps {
				replaced, err := db.SaveCredential(kind, st.text, st.issuedAt)
				if err != nil || replaced != st.wantReplaced {
					t.Fatalf("SaveCredential(%s) = %v, %v; want %v", st.text, replaced, err, st.wantReplaced)
				}
				text, _, err := db.LoadCredential(kind)
				if err != nil || text != st.wantText {
					t.Fatalf("after %s: LoadCredential = %q, %v; want %q", st.text, text, err, st.wantText)
				}
			}
			db = reopen(t, db, nil)
			text, at, err := db.LoadCredential(kind)
			if err != nil || text != "token-3" || !at.Equal(t0.Add(2*time.Hour)) {
				t.Fatalf("after reopen: %q %v %v", text, at, err)
			}
		})
	}
}

func TestCredentialUnknownKind(t *testing.T) {
	db, _ := openTest(t, nil)
	if _, err := db.SaveCredential("password", "x", time.Now()); err == nil {
		t.Fatal("SaveCredential accepted an unknown kind")
	}
	if _, _, err := db.LoadCredential("password"); err == nil {
		t.Fatal("LoadCredential accepted an unknown kind")
	}
}
