package persist

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The crash test re-executes the test binary as a writer child (see
// TestMain) and SIGKILLs it at random moments.
const (
	crashChildEnv   = "PERSIST_CRASH_CHILD" // path of the state file
	crashIterations = 50
	crashBatch      = 200
	crashKeep       = 2000 // the child acks its oldest records beyond this many
	crashSnapEvery  = 3    // the child saves a snapshot every few appends
)

// crashChild appends numbered records forever. After each commit it writes
// "C n" (every record up to n is committed); around each ack it writes
// "A n" before (records up to n may be gone from now on) and "K n" after
// (records up to n are gone); after saving a snapshot of revision r, "S r".
func crashChild(path string, out io.Writer) error {
	db, err := Open(path, nil)
	if err != nil {
		return err
	}
	next, err := nextRecordNumber(db)
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		if i%crashSnapEvery == 0 {
			if err := crashSnapshot(db, next, out); err != nil {
				return err
			}
		}
		recs := make([][]byte, crashBatch)
		for j := range recs {
			recs[j] = fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, next+j, strings.Repeat("x", 300))
		}
		if _, err := db.AppendReports(recs); err != nil {
			return err
		}
		next += crashBatch
		if _, err := fmt.Fprintf(out, "C %d\n", next-1); err != nil {
			return err
		}
		if db.SpoolStats().Records > crashKeep {
			if err := crashAck(db, out); err != nil {
				return err
			}
		}
	}
}

// crashSnapshot saves a snapshot whose revision is the next record number,
// so revisions grow across restarts.
func crashSnapshot(db *DB, rev int, out io.Writer) error {
	if err := db.SaveSnapshot(testSnapshot(int64(rev), 20)); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "S %d\n", rev)
	return err
}

func crashAck(db *DB, out io.Writer) error {
	b, err := db.PeekReports(2 * crashBatch)
	if err != nil {
		return err
	}
	last, err := recordNumber(b.Records[len(b.Records)-1])
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "A %d\n", last); err != nil {
		return err
	}
	if err := db.AckReports(b); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "K %d\n", last)
	return err
}

// nextRecordNumber continues the numbering after the newest spooled record.
func nextRecordNumber(db *DB) (int, error) {
	next := 0
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReports)
		k, v := b.Cursor().Last()
		if k == nil {
			return nil
		}
		blk, err := decodeBlock(k, blockValue(b, k, v))
		if err != nil {
			return err
		}
		n, err := recordNumber(blk.rec(int(blk.count()) - 1))
		next = n + 1
		return err
	})
	return next, err
}

func recordNumber(rec []byte) (int, error) {
	var r struct{ N int }
	if err := json.Unmarshal(rec, &r); err != nil {
		return 0, fmt.Errorf("record %q: %w", rec, err)
	}
	return r.N, nil
}

// childProgress is what the parent learnt from the child's output.
type childProgress struct {
	mu        sync.Mutex
	committed int // every record <= committed was committed
	mayBeAcked,
	acked int // records <= acked were deleted
	snapshot int // revision of the last snapshot saved
}

func (p *childProgress) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		kind, num, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue // a line the test binary printed itself
		}
		p.mu.Lock()
		switch kind {
		case "C":
			p.committed = n
		case "A":
			p.mayBeAcked = n
		case "K":
			p.acked = n
		case "S":
			p.snapshot = n
		}
		p.mu.Unlock()
	}
}

func TestCrashKillLoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	p := &childProgress{committed: -1, mayBeAcked: -1, acked: -1, snapshot: -1}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range crashIterations {
		runAndKill(t, path, p, time.Duration(rng.IntN(30))*time.Millisecond)
		verifyAfterCrash(t, path, p, i)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Logf("%d kills; %d records committed, acknowledged through %d", crashIterations, p.committed+1, p.acked)
	if p.committed < crashIterations*crashBatch || p.acked < 0 {
		t.Fatalf("the child made too little progress: %d records, acked through %d", p.committed+1, p.acked)
	}
}

// runAndKill starts the child, waits until it has committed at least once
// more, lets it run for delay, and kills it.
func runAndKill(t *testing.T, path string, p *childProgress, delay time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	before := p.committed
	p.mu.Unlock()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.read(out)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		progressed := p.committed > before
		p.mu.Unlock()
		if progressed {
			break
		}
		if time.Now().After(deadline) {
			killErr := cmd.Process.Kill()
			<-done
			waitErr := cmd.Wait()
			t.Fatalf("the child committed nothing within 10 s (%v, %v): %s", killErr, waitErr, stderr.String())
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	time.Sleep(delay)
	killErr := cmd.Process.Signal(syscall.SIGKILL)
	<-done // the pipe is drained: every line the child wrote is counted
	waitErr := cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if killErr != nil || !ok || !ws.Signaled() {
		t.Fatalf("child did not die by SIGKILL (kill: %v, wait: %v): %s", killErr, waitErr, stderr.String())
	}
}

// verifyAfterCrash opens the file as the gateway would, checks it with
// bbolt, and checks that no committed, unacknowledged record is missing.
func verifyAfterCrash(t *testing.T, path string, p *childProgress, iter int) {
	t.Helper()
	if _, err := os.Stat(path + markerSuffix); err != nil {
		t.Fatalf("iteration %d: no open marker after a kill: %v", iter, err)
	}
	db, err := Open(path, nil)
	if err != nil {
		t.Fatalf("iteration %d: Open after kill: %v", iter, err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	if msg := db.Recovered(); msg != "" {
		t.Fatalf("iteration %d: the file was damaged by a kill: %s", iter, msg)
	}
	if err := checkConsistency(db.bolt); err != nil {
		t.Fatalf("iteration %d: %v", iter, err)
	}
	nums := spooledNumbers(t, db)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.snapshot >= 0 {
		s, err := db.LoadSnapshot()
		if err != nil || s.Revision < int64(p.snapshot) || len(s.APIs) != 20 {
			t.Fatalf("iteration %d: snapshot after kill: %v (%v); want revision >= %d", iter, s, err, p.snapshot)
		}
	}
	for n := p.mayBeAcked + 1; n <= p.committed; n++ {
		if !nums[n] {
			t.Fatalf("iteration %d: committed record %d is missing (committed through %d, acks from %d)", iter, n, p.committed, p.mayBeAcked)
		}
	}
	for n := range nums {
		if n <= p.acked {
			t.Fatalf("iteration %d: acknowledged record %d is back", iter, n)
		}
	}
	if st := db.SpoolStats(); st.Records != int64(len(nums)) {
		t.Fatalf("iteration %d: stats say %d records, the spool has %d", iter, st.Records, len(nums))
	}
}

func spooledNumbers(t *testing.T, db *DB) map[int]bool {
	t.Helper()
	nums := map[int]bool{}
	prev := -1
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReports)
		return b.ForEach(func(k, v []byte) error {
			blk, err := decodeBlock(k, blockValue(b, k, v))
			if err != nil {
				return err
			}
			for i := range int(blk.count()) {
				n, err := recordNumber(blk.rec(i))
				if err != nil {
					return err
				}
				if n <= prev {
					return fmt.Errorf("record %d after %d: out of order", n, prev)
				}
				prev = n
				nums[n] = true
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return nums
}
