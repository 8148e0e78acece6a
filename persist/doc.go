/*
Package persist keeps the gateway's state on disk, in one bbolt file
(go.etcd.io/bbolt): the last good configuration snapshot, copies of the
Cloud Token and license the gateway was provisioned with, the report spool,
and the quota policy's counters. It is what lets a branch-site gateway start
and serve after a power cut while the Cloud Gate is unreachable, and lose no
analytics record while it stays unreachable.

The gateway keeps the file in its data directory (`edgegate run
--data-dir DIR`, /perm/edgegate on the appliance); the file name is the
caller's choice.

# Basics

Open the file once per process and share the *DB; all methods are safe for
concurrent use. Close it on shutdown: Close marks the shutdown as clean.

	db, err := persist.Open(filepath.Join(dataDir, "edgegate.db"), nil)
	if err != nil {
		return err // locked by another process, or no permission
	}
	defer db.Close()
	if msg := db.Recovered(); msg != "" {
		log.Warn(msg) // a damaged file was set aside; the state is empty
	}

The file holds these buckets:

	meta         "format": the layout version of these buckets (2)
	snapshot     "latest" and "previous" snapshot records; "set-aside" holds
	             the last record found damaged, for inspection
	credentials  "cloud-token", "license": issuedAt (int64 ns, big-endian) | text
	report-blocks
	             the spool, in blocks of records (see Report spool): one
	             nested bucket per block, named by the sequence number of
	             its first record (uint64, big-endian); the bucket's
	             sequence is the last number handed out
	spool        the spool's bookkeeping: "epoch" (8 random bytes, chosen when
	             the file is created), "records", "bytes", "dropped-total",
	             "dropped-reported" (int64, big-endian)
	counters     one nested bucket per SaveCounters name

A snapshot record is "EGSNAP" | format (uint32) | revision (int64) |
saved-at (int64 ns) | SHA-256 | payload, integers big-endian. The payload
is a length-prefixed (uint32) JSON object with source, organization,
environment and subscriptions, then the number of APIs (uint32) and each
API's definition, as received, length-prefixed: loading needs no JSON scan
of the definitions. The checksum covers the header fields and the
payload. LoadSnapshot verifies
the format and the checksum; a record that fails either is reported with
ErrCorruptSnapshot, set aside, and the previous snapshot is used instead.

# Durability

Every write method commits one bbolt transaction, and bbolt fsyncs
(fdatasync) the file at every commit: when a method returns nil, what it
wrote survives a crash or a power cut. AppendReports writes a whole batch
in one transaction, so the cost is one commit per call (bbolt syncs twice:
the pages, then the meta page that makes them visible), not per record; the
caller batches (the gateway commits about every 100 ms), which bounds what
a power cut can lose to the batch not yet handed over. A write that fails
(disk full, I/O error) rolls back: nothing written before is lost, and the
next write, once there is space again, succeeds.

# Report spool

Records arrive already encoded (one JSON record per []byte). Sequence
numbers grow monotonically, one per record, and are never reused within a
file. PeekReports returns the oldest records with a batch ID built from
the spool's epoch and the first and last sequence numbers: retrying the
upload of the same records sends the same Idempotency-Key, and a file
recreated after damage has a new epoch, so its IDs never collide with
earlier ones. AckReports deletes the batch's records once the gate has
acknowledged them.

Records are stored in blocks, so that the cost of a bbolt key (sequence,
put, delete, page bookkeeping) is paid per block rather than per record.
A block holds a run of consecutive records from one AppendReports call: at
most 256 records and 256 KiB of records (a larger record gets a block of
its own); a larger call writes several blocks in its one transaction. A
block with first sequence number S and n records covers S..S+n-1, and the
next block starts at S+n. Each block is a nested bucket of report-blocks,
named by S, holding one value under the key 0x00:

	version  u8           1
	crc      u32          CRC-32C (Castagnoli) of everything after it
	spooled  i64          unix ns when the records were appended
	count    u16          number of records
	lengths  count × u32  each record's length
	records               the records' JSON, concatenated

All integers are big-endian. A nested bucket rather than a plain value,
because bbolt rewrites a whole leaf page when one of its values changes and
a leaf holds two to four large values: plain blocks would be written three
to four times over as their neighbours come and go, while a nested bucket
has pages of its own, written once (bbolt inlines a small one into the
leaf, at the cost of a plain value). A batch may take records from several
blocks and stop inside one. Dropping or acknowledging whole blocks costs
one delete each, without reading the records: the count and size come from
the block's header, trusted only when the count matches the sequence
numbers up to the next block (else the block is decoded and checked as
when it is read); dropping or acknowledging the first records of a block
rewrites the rest as a new block named by its new first sequence number,
with the same spooled-at time.

A block that fails its checksum or whose lengths do not add up (or a key
that holds something else than a block) does not stop the spool: its
records are skipped (not sent), the batch that covers it spans its
sequence numbers, and acknowledging that batch deletes it; when space runs
out it is dropped whole. Its record and byte counts are estimated from the
sequence numbers up to the next block; the counts are reset when the spool
becomes empty.

Overflow policy: the spool holds at most Options.MaxSpoolRecords records
and Options.MaxSpoolBytes bytes of records (defaults 1,000,000 and 256 MiB).
When an append would exceed either, the oldest records are dropped, those
already spooled first. A record larger than Options.MaxRecordBytes is
dropped at once. Every drop is counted in the file; PeekReports hands the
unreported count to the uploader in ReportBatch.Dropped, and AckReports
marks it as reported, so the gate learns about every gap exactly once even
across restarts. SpoolStats reads counters kept in memory and never touches
the disk.

Migration: format 1 (before blocks) kept one record per key in a bucket
named "reports" (value = spooled-at | record). Open converts such a spool
into blocks, keeping every record's sequence number and spooled-at time
and the counters, and then deletes the old bucket and records format 2.
It does so in transactions of up to 4 MiB of records, oldest first, so that
converting a full spool needs neither its size in memory nor in free disk
space; a crash in between leaves older records in blocks and newer ones in
the old bucket, and the next Open carries on. A format 1 entry too short to
hold a spooled-at time is dropped (it could not be sent either). An older
edgegate does not see the blocks (an appliance that boots its previous
image starts with an empty spool and keeps the blocks in the file); the
records it spools, numbered from 1 again, are converted at the next Open
of a newer one with fresh sequence numbers after the blocks.

# Damaged files

Open never refuses to start because the file is damaged. A file bbolt
cannot open (bad meta pages, wrong version, truncated, random bytes) or
that fails verification is renamed to path + ".corrupt-<unix seconds>" and
a fresh file is created; Recovered returns a sentence saying what happened.
The caller loses the state (it syncs again from the gate) but keeps
serving.

Verification has two steps. First a structure walk reads every page
reachable from the root with ordinary reads, holding the file lock, and
checks that each page reference, element and value lies inside the file
and that no page is both free and in use; bbolt itself trusts those
references and would fault outside its memory map. Then bbolt's
consistency check (tx.Check) looks for pages that are lost, freed twice or
out of order. Open verifies the file when it is at most
Options.VerifyMaxBytes (64 MiB by default) or when the last run did not
close it: a marker file path + ".open" exists while the file is open. Both
steps are linear in the number of pages: for an 80 MiB file (64 MiB of
spooled records) both together take about 0.03 s from the page cache, and
for a full default spool (a 279 MiB file) 0.12 s; from slow flash expect
the time it takes to read the file. The walk
stops after Options.CheckTimeout (10 s); the file is then used unverified
and Recovered says so. bbolt's check cannot be interrupted; it runs only
after a complete walk and takes a fraction of its time.

Damage that only shows at run time (bbolt panics or faults on a page the
verification accepted) is turned into an error wrapping ErrDamaged rather
than a crash; the file is marked (path + ".damaged") and the next Open sets
it aside.

# Caveats

bbolt maps the file into memory and locks it: one process at a time. Open
waits Options.Timeout (5 s) for the lock and then fails with ErrLocked.

Damage that the verification cannot see (a flipped bit inside a value)
surfaces where the value is decoded: snapshots and spool blocks carry a
checksum (a damaged block is skipped, see Report spool); a damaged
credential fails its signature check in the caller.

The bounds apply to record bytes, not to the file: bbolt's pages and free
pages make the file larger than MaxSpoolBytes (a full default spool of
~540-byte records is a file of about 280 MiB), and bbolt never shrinks a
file. Free pages are reused, so the file does not grow past that. bbolt
writes its free-page list at every commit (8 bytes per free 4 KiB page,
about 0.5 MB for a drained full-size file); the alternative, rebuilding the
list at Open by scanning the file, would slow down every start instead.

A file larger than VerifyMaxBytes that was closed cleanly is not verified
at Open, to keep start-up fast on slow flash.

Drops are counted when they happen: a record dropped for space while it
was part of a batch being uploaded is counted as dropped although the gate
receives it.

Open takes the file lock only for the walk and then again inside bbolt: a
second process racing for the file in between makes one of them fail with
ErrLocked, never both use it.
*/
package persist
