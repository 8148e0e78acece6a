package analytics

import (
	"bytes"
	"encoding/json"
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

func BenchmarkAppendJSON(b *testing.B) {
	r := filled("0a1b2c3d-0a1b-2c3d", 1234)
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}
