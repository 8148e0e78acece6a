package analytics

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// filled returns a record with every field set (strings to s, numbers to n),
// so a field added to Record and forgotten in AppendJSON fails the test.
func filled(s string, n int64) *Record {
	r := &Record{}
	v := reflect.ValueOf(r).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(s)
		case reflect.Int, reflect.Int64:
			f.SetInt(n)
		default:
			panic("AppendJSON does not know field kind " + f.Kind().String())
		}
	}
	return r
}

func TestAppendJSONMatchesMarshal(t *testing.T) {
	cases := []struct {
		name string
		r    *Record
	}{
		{"empty", &Record{}},
		{"all fields", filled("value", 42)},
		{"escapes", filled("a\"b\\c<d>&e\n\t\r\b\f\x01\x7f é \u2028\u2029 \xff end", -7)},
		{"escape after a safe word", filled("0123456789abcdef<tail", 0)},
		{"escape at the end of a word", filled("0123456\x00", 1)},
		{"long safe", filled("/orders/items/1234567890?page=2&size=50 Mozilla/5.0 (X11; Linux x86_64)", 9)},
		{"non-ASCII after words", filled("abcdefghijklmnopé\u2028ok\xc3", 3)},
		{"typical", &Record{Timestamp: 1764150000000, RequestID: "r", TransactionID: "t", APIID: "api", HTTPMethod: "GET", URI: "/a?b=c", Status: 200}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.r.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("AppendJSON:\n%s\nMarshal:\n%s", got, want)
			}
		})
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("plain", int64(1))
	f.Add("<\u2028\xff\"", int64(-1))
	f.Add("abcdefgh\x1fijklmnop>qrstuvwx&", int64(1<<62))
	f.Add("\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x20\x20\x20\x20\x20\x20\x20\x21", int64(-1<<63))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		r := filled(s, n)
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON %s\nMarshal    %s", got, want)
		}
	})
}

// TestSafeWordMatchesTable puts every byte value at every position of an
// otherwise safe word (and next to a zero byte, where the bit trick's
// marks spill over) and checks safeWord against the byte table.
func TestSafeWordMatchesTable(t *testing.T) {
	for _, fill := range []byte{'a', 0x00, 0x21, 0x7e} {
		t.Run(fmt.Sprintf("fill %#x", fill), func(t *testing.T) {
			for pos := range 8 {
				for c := range 256 {
					var word [8]byte
					for i := range word {
						word[i] = fill
					}
					word[pos] = byte(c)
					want := true
					for _, b := range word {
						want = want && safeASCII[b]
					}
					if got := safeWord(binary.LittleEndian.Uint64(word[:])); got != want {
						t.Fatalf("safeWord(%q) = %v, want %v", word, got, want)
					}
				}
			}
		})
	}
}

// TestSafePrefix checks the length of the copied prefix against the byte
// table for strings around the word size.
func TestSafePrefix(t *testing.T) {
	for _, s := range []string{"", "a", "abcdefg", "abcdefgh", "abcdefghi", "abcdefgh<", "abc<defghijk", "abcdefghijklmno\x80", "abcdefghijklmnop"} {
		t.Run(s, func(t *testing.T) {
			want := 0
			for want < len(s) && safeASCII[s[want]] {
				want++
			}
			if got := safePrefix(s); got != want {
				t.Fatalf("safePrefix(%q) = %d, want %d", s, got, want)
			}
		})
	}
}

// BenchmarkAppendJSONTypical encodes a record shaped like the api-key
// benchmark's (UUIDs, short ids, one URI, no errors).
func BenchmarkAppendJSONTypical(b *testing.B) {
	r := &Record{Timestamp: 1764150000000, RequestID: "5f0c1d2e-8a9b-4a7b-9c3d-1e2f3a4b5c6d",
		TransactionID: "5f0c1d2e-8a9b-4a7b-9c3d-1e2f3a4b5c6d", APIID: "api-17", APIName: "Orders service 17",
		PlanID: "plan-key-17", ApplicationID: "app-3", SubscriptionID: "sub-3", OrganizationID: "acme",
		EnvironmentID: "prod", GatewayID: "gw-branch-12", HTTPMethod: "GET", RemoteAddress: "10.1.2.3",
		Host: "api.example.com", URI: "/orders-17/items/42", Endpoint: "http://10.0.0.17:8080/orders",
		EndpointResponseTimeMs: 12, Status: 200, ResponseContentLength: 512, GatewayResponseTimeMs: 14,
		GatewayLatencyMs: 2, SecurityType: "API_KEY"}
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	r := filled("0a1b2c3d-0a1b-2c3d", 1234)
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}
