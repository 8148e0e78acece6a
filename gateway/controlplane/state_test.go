package controlplane

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/cloudgate/wire"
)

func raw(id string) json.RawMessage { return json.RawMessage(`{"id":"` + id + `","v":1}`) }

func sub(id, status string) wire.Subscription {
	return wire.Subscription{ID: id, API: "a", Plan: "p", Application: "app", Key: "k-" + id, Status: status}
}

func TestMerge(t *testing.T) {
	base := &configState{Revision: 3, Organization: "acme", Environment: "prod",
		APIs: map[string]json.RawMessage{"a": raw("a"), "b": raw("b")},
		Subs: map[string]wire.Subscription{"s1": sub("s1", wire.SubAccepted), "s2": sub("s2", wire.SubAccepted)}}
	for _, tc := range []struct {
		name     string
		cur      *configState
		sr       wire.SyncResponse
		apis     []string
		subs     []string
		wantErr  string
		s1Status string
	}{
		{name: "full replaces everything", cur: base,
			sr:   wire.SyncResponse{Revision: 4, Full: true, APIs: []json.RawMessage{raw("c")}},
			apis: []string{"c"}, subs: []string{}},
		{name: "delta upserts and removes", cur: base,
			sr: wire.SyncResponse{Revision: 4, APIs: []json.RawMessage{raw("c"), json.RawMessage(`{"id":"a","v":2}`)}, RemovedAPIs: []string{"b"},
				Subscriptions: []wire.Subscription{sub("s1", wire.SubRevoked)}, RemovedSubscriptions: []string{"s2"}},
			apis: []string{"a", "c"}, subs: []string{"s1"}, s1Status: wire.SubRevoked},
		{name: "removing what is absent is fine", cur: base,
			sr:   wire.SyncResponse{Revision: 4, RemovedAPIs: []string{"zz"}},
			apis: []string{"a", "b"}, subs: []string{"s1", "s2"}},
		{name: "delta without a base", cur: nil,
			sr: wire.SyncResponse{Revision: 4}, wantErr: "no configuration is loaded"},
		{name: "api without id", cur: base,
			sr: wire.SyncResponse{Revision: 4, Full: true, APIs: []json.RawMessage{json.RawMessage(`{"name":"x"}`)}}, wantErr: "apis[0]: api definition has no id"},
		{name: "api not an object", cur: base,
			sr: wire.SyncResponse{Revision: 4, Full: true, APIs: []json.RawMessage{json.RawMessage(`[1]`)}}, wantErr: "not a JSON object"},
		{name: "subscription without id", cur: base,
			sr: wire.SyncResponse{Revision: 4, Subscriptions: []wire.Subscription{{API: "a"}}}, wantErr: "subscriptions[0] has no id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(base.APIs)
			got, err := merge(tc.cur, &tc.sr)
			if len(base.APIs) != before || string(base.APIs["a"]) != string(raw("a")) {
				t.Fatal("merge modified the current state")
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Revision != tc.sr.Revision {
				t.Fatalf("revision %d, want %d", got.Revision, tc.sr.Revision)
			}
			if ids := slices.Sorted(maps.Keys(got.APIs)); !slices.Equal(ids, tc.apis) {
				t.Fatalf("apis %v, want %v", ids, tc.apis)
			}
			if ids := slices.Sorted(maps.Keys(got.Subs)); !slices.Equal(ids, tc.subs) {
				t.Fatalf("subscriptions %v, want %v", ids, tc.subs)
			}
			if tc.s1Status != "" && got.Subs["s1"].Status != tc.s1Status {
				t.Fatalf("s1 status %q, want %q", got.Subs["s1"].Status, tc.s1Status)
			}
		})
	}
}

func TestMergeKeepsOrgAndUpdatedDefinition(t *testing.T) {
	cur, err := stateFromParts(1, "acme", "prod", []json.RawMessage{raw("a")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := merge(cur, &wire.SyncResponse{Revision: 2, APIs: []json.RawMessage{json.RawMessage(`{"id":"a","v":2}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if next.Organization != "acme" || next.Environment != "prod" {
		t.Fatalf("org/env %q/%q lost in a delta", next.Organization, next.Environment)
	}
	if got := string(next.sortedAPIs()[0]); !strings.Contains(got, `"v":2`) {
		t.Fatalf("definition not updated: %s", got)
	}
}
