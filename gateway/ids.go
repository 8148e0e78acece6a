package gateway

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
)

// idGenerator makes request ids shaped like UUIDs: a random 64-bit prefix
// chosen at start and a 64-bit counter, so ids are unique per process and
// across restarts (with overwhelming probability) and cost one allocation.
type idGenerator struct {
	prefix [8]byte
	n      atomic.Uint64
}

// init seeds the generator.
func (g *idGenerator) init() {
	if _, err := rand.Read(g.prefix[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ panics
		// instead); keep the zero prefix if it ever returns an error.
		g.prefix = [8]byte{}
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err == nil {
		g.n.Store(binary.BigEndian.Uint64(seed[:]) >> 16)
	}
}

const hexDigits = "0123456789abcdef"

// next returns a new id in the 8-4-4-4-12 form.
func (g *idGenerator) next() string {
	var raw [16]byte
	copy(raw[:8], g.prefix[:])
	binary.BigEndian.PutUint64(raw[8:], g.n.Add(1))
	var out [36]byte
	j := 0
	for i, b := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j] = hexDigits[b>>4]
		out[j+1] = hexDigits[b&0xf]
		j += 2
	}
	return string(out[:])
}
