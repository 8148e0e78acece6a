package persist

import (
	"maps"
	"testing"
)

func TestCountersReplace(t *testing.T) {
	db, _ := openTest(t, nil)
	got, err := db.LoadCounters("quota")
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty LoadCounters = %v, %v; want empty map", got, err)
	}
	first := map[string][]byte{"plan-a/app-1": {1}, "plan-a/app-2": {2}}
	second := map[string][]byte{"plan-a/app-2": {3}, "plan-b/app-9": {4}}
	other := map[string][]byte{"x": {9}}
	for _, step := range []struct {
		name string
		m    map[string][]byte
	}{{"quota", first}, {"other", other}, {"quota", second}} {
		if err := db.SaveCounters(step.name, step.m); err != nil {
			t.Fatal(err)
		}
	}
	db = reopen(t, db, nil)
	for name, want := range map[string]map[string][]byte{"quota": second, "other": other} {
		got, err := db.LoadCounters(name)
		if err != nil || !maps.EqualFunc(got, want, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("LoadCounters(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if err := db.SaveCounters("", first); err == nil {
		t.Fatal("SaveCounters with an empty name succeeded")
	}
}
