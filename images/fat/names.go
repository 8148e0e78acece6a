package fat

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

const (
	ntLowerBase = 0x08 // Windows NT flag: base name is lower case
	ntLowerExt  = 0x10 // Windows NT flag: extension is lower case
	longChars   = 13   // UTF-16 units per long-name entry
)

// validShortChar reports whether c may appear in an 8.3 name as is.
func validShortChar(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'()-@^_`{}~", c) >= 0
}

// splitName splits name at its last dot into base and extension.
func splitName(name string) (base, ext string) {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// caseOf reports whether s is all lower case (true, true), all upper case
// (false, true) or mixed (_, false), ignoring characters without case.
func caseOf(s string) (lower, consistent bool) {
	hasLower, hasUpper := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z':
			hasLower = true
		case c >= 'A' && c <= 'Z':
			hasUpper = true
		}
	}
	return hasLower, !(hasLower && hasUpper)
}

// shortName returns the 11-byte 8.3 name for name, the NT case flags, and
// whether long-name entries are needed to keep the real name.
func shortName(name string, used map[string]bool) (short []byte, caseFlags byte, needLong bool) {
	base, ext := splitName(name)
	upBase, upExt := strings.ToUpper(base), strings.ToUpper(ext)
	fits := len(base) >= 1 && len(base) <= 8 && len(ext) <= 3
	for i := 0; fits && i < len(upBase); i++ {
		fits = validShortChar(upBase[i])
	}
	for i := 0; fits && i < len(upExt); i++ {
		fits = validShortChar(upExt[i])
	}
	lowBase, okBase := caseOf(base)
	lowExt, okExt := caseOf(ext)
	if fits && ext == "" && lowBase && okBase {
		// gokrazy's on-device reader matches a name without extension
		// only if its short name is stored exactly as asked for, in lower
		// case (vmlinuz, loader, entries): store it so.
		s := []byte(fmt.Sprintf("%-11s", base))
		if !used[strings.ToUpper(string(s))] {
			return s, 0, false
		}
	}
	if fits {
		s := []byte(fmt.Sprintf("%-8s%-3s", upBase, upExt))
		if !used[string(s)] {
			if !okBase || !okExt {
				return s, 0, true // mixed case: keep it in a long name
			}
			if lowBase {
				caseFlags |= ntLowerBase
			}
			if lowExt {
				caseFlags |= ntLowerExt
			}
			return s, caseFlags, false
		}
	}
	return numericTail(upBase, upExt, used), 0, true
}

// numericTail makes a unique BASIS~N.EXT short name for a long name.
func numericTail(upBase, upExt string, used map[string]bool) []byte {
	clean := func(s string, max int) string {
		var b strings.Builder
		for i := 0; i < len(s) && b.Len() < max; i++ {
			if validShortChar(s[i]) {
				b.WriteByte(s[i])
			} else if s[i] != '.' && s[i] != ' ' {
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	base, ext := clean(upBase, 8), clean(upExt, 3)
	for n := 1; ; n++ {
		tail := fmt.Sprintf("~%d", n)
		b := base
		if len(b)+len(tail) > 8 {
			b = b[:8-len(tail)]
		}
		s := []byte(fmt.Sprintf("%-8s%-3s", b+tail, ext))
		if !used[string(s)] {
			return s
		}
	}
}

// longEntryCount is the number of long-name entries name needs when its
// short name does not keep it.
func longEntryCount(name string) int {
	units := len(utf16.Encode([]rune(name)))
	return (units + longChars - 1) / longChars
}

// shortChecksum is the checksum of an 11-byte short name that ties the
// long-name entries to it.
func shortChecksum(short []byte) byte {
	var sum byte
	for _, c := range short[:11] {
		sum = (sum>>1 | sum<<7) + c
	}
	return sum
}

// longEntries encodes the long-name entries for name, last part first, as
// they precede the short entry on disk.
func longEntries(name string, short []byte) []byte {
	units := utf16.Encode([]rune(name))
	n := (len(units) + longChars - 1) / longChars
	sum := shortChecksum(short)
	var out []byte
	for seq := n; seq >= 1; seq-- {
		e := make([]byte, dirEntrySize)
		order := byte(seq)
		if seq == n {
			order |= 0x40
		}
		e[0] = order
		e[11] = attrLongName
		e[13] = sum
		part := make([]uint16, longChars)
		for i := range part {
			idx := (seq-1)*longChars + i
			switch {
			case idx < len(units):
				part[i] = units[idx]
			case idx == len(units):
				part[i] = 0
			default:
				part[i] = 0xFFFF
			}
		}
		offsets := []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
		for i, off := range offsets {
			binary.LittleEndian.PutUint16(e[off:], part[i])
		}
		out = append(out, e...)
	}
	return out
}

// decodeLong reads the name units of one long-name entry.
func decodeLong(e []byte) []uint16 {
	offsets := []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
	out := make([]uint16, 0, longChars)
	for _, off := range offsets {
		u := binary.LittleEndian.Uint16(e[off:])
		if u == 0 || u == 0xFFFF {
			break
		}
		out = append(out, u)
	}
	return out
}
