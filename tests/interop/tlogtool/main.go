// Command tlogtool checks the log's checkpoints and proofs with golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog, for the Python test tests/test_go_tlog_interop.py.
//
// It reads one JSON object on stdin:
//
//	{
//	  "vkey": "NAME+HASH+KEY",            the log's verifier key (note.NewVerifier)
//	  "origin": "NAME",                   optional: the origin every checkpoint must have
//	  "checkpoints": ["NOTE", ...],       signed checkpoint notes (note.Open, then parsed here)
//	  "inclusion": [{"index": I, "tree_size": N, "leaf_hash": HEX, "hashes": [HEX, ...],
//	                 "leaf_data": BASE64}],       leaf_data optional
//	  "consistency": [{"first": M, "second": N, "hashes": [HEX, ...],
//	                   "first_root": HASH, "second_root": HASH}]   roots optional
//	}
//
// Each checkpoint is opened with note.Open and a verifier from note.NewVerifier, and its text
// parsed as "ORIGIN\nSIZE\nBASE64(ROOT)\n" followed by any extension lines. Each inclusion proof
// is run with tlog.CheckRecord against the root of the opened checkpoint of its tree_size (one
// must be given); with leaf_data, tlog.RecordHash(leaf_data) must equal leaf_hash. Each
// consistency proof is run with tlog.CheckTree; a root (hex or base64) not given is taken from
// the opened checkpoint of that size, and one given must agree with such a checkpoint.
//
// It prints {"checkpoints": [...], "inclusion": [...], "consistency": [...]}, one
// {"ok": bool, "err": string} per item (checkpoints also give "size" and "root", base64), and
// exits 1 if any item failed, 2 if the input could not be read.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusionProof struct {
	Index    int64    `json:"index"`
	TreeSize int64    `json:"tree_size"`
	LeafHash string   `json:"leaf_hash"`
	Hashes   []string `json:"hashes"`
	LeafData *string  `json:"leaf_data"`
}

type consistencyProof struct {
	First      int64    `json:"first"`
	Second     int64    `json:"second"`
	Hashes     []string `json:"hashes"`
	FirstRoot  *string  `json:"first_root"`
	SecondRoot *string  `json:"second_root"`
}

type input struct {
	VKey        string             `json:"vkey"`
	Origin      *string            `json:"origin"`
	Checkpoints []string           `json:"checkpoints"`
	Inclusion   []inclusionProof   `json:"inclusion"`
	Consistency []consistencyProof `json:"consistency"`
}

type result struct {
	OK  bool   `json:"ok"`
	Err string `json:"err"`
}

type checkpointResult struct {
	result
	Size int64  `json:"size"`
	Root string `json:"root"`
}

type output struct {
	Checkpoints []checkpointResult `json:"checkpoints"`
	Inclusion   []result           `json:"inclusion"`
	Consistency []result           `json:"consistency"`
}

func main() {
	var in input
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "tlogtool: reading input:", err)
		os.Exit(2)
	}
	verifier, err := note.NewVerifier(in.VKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlogtool: verifier key:", err)
		os.Exit(2)
	}

	out := output{
		Checkpoints: []checkpointResult{},
		Inclusion:   []result{},
		Consistency: []result{},
	}
	failed := false
	roots := map[int64]tlog.Hash{}
	for _, msg := range in.Checkpoints {
		size, root, err := openCheckpoint(msg, verifier, in.Origin)
		if err == nil {
			if known, ok := roots[size]; ok && known != root {
				err = fmt.Errorf("two checkpoints of size %d with different roots", size)
			} else {
				roots[size] = root
			}
		}
		r := checkpointResult{result: toResult(err)}
		if err == nil {
			r.Size = size
			r.Root = base64.StdEncoding.EncodeToString(root[:])
		}
		failed = failed || err != nil
		out.Checkpoints = append(out.Checkpoints, r)
	}
	for _, p := range in.Inclusion {
		err := checkInclusion(p, roots)
		failed = failed || err != nil
		out.Inclusion = append(out.Inclusion, toResult(err))
	}
	for _, p := range in.Consistency {
		err := checkConsistency(p, roots)
		failed = failed || err != nil
		out.Consistency = append(out.Consistency, toResult(err))
	}

	text, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlogtool:", err)
		os.Exit(2)
	}
	fmt.Println(string(text))
	if failed {
		os.Exit(1)
	}
}

func toResult(err error) result {
	if err != nil {
		return result{OK: false, Err: err.Error()}
	}
	return result{OK: true}
}

// openCheckpoint opens a signed checkpoint note and parses its text by hand.
func openCheckpoint(msg string, verifier note.Verifier, origin *string) (int64, tlog.Hash, error) {
	n, err := note.Open([]byte(msg), note.VerifierList(verifier))
	if err != nil {
		return 0, tlog.Hash{}, fmt.Errorf("note.Open: %w", err)
	}
	signed := false
	for _, sig := range n.Sigs {
		if sig.Name == verifier.Name() && sig.Hash == verifier.KeyHash() {
			signed = true
		}
	}
	if !signed {
		return 0, tlog.Hash{}, errors.New("checkpoint is not signed by the log key")
	}
	if !strings.HasSuffix(n.Text, "\n") {
		return 0, tlog.Hash{}, errors.New("checkpoint text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		return 0, tlog.Hash{}, errors.New("checkpoint text has fewer than three lines")
	}
	if lines[0] == "" {
		return 0, tlog.Hash{}, errors.New("checkpoint origin is empty")
	}
	if origin != nil && lines[0] != *origin {
		return 0, tlog.Hash{}, fmt.Errorf("checkpoint origin %q is not %q", lines[0], *origin)
	}
	for _, line := range lines[3:] {
		if line == "" {
			return 0, tlog.Hash{}, errors.New("checkpoint has an empty extension line")
		}
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return 0, tlog.Hash{}, fmt.Errorf("checkpoint size %q is not a canonical decimal", lines[1])
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return 0, tlog.Hash{}, fmt.Errorf("checkpoint root %q is not base64 of 32 bytes", lines[2])
	}
	var root tlog.Hash
	copy(root[:], raw)
	return size, root, nil
}

// parseHash reads a hash in hex (64 digits) or in standard base64.
func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	raw, err := hex.DecodeString(s)
	if err != nil || len(s) != 2*tlog.HashSize {
		raw, err = base64.StdEncoding.Strict().DecodeString(s)
	}
	if err != nil || len(raw) != tlog.HashSize {
		return h, fmt.Errorf("%q is not a 32-byte hash in hex or base64", s)
	}
	copy(h[:], raw)
	return h, nil
}

func parseHashes(list []string) ([]tlog.Hash, error) {
	hashes := []tlog.Hash{}
	for _, s := range list {
		h, err := parseHash(s)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, h)
	}
	return hashes, nil
}

func checkInclusion(p inclusionProof, roots map[int64]tlog.Hash) error {
	root, ok := roots[p.TreeSize]
	if !ok {
		return fmt.Errorf("no opened checkpoint of size %d", p.TreeSize)
	}
	leaf, err := parseHash(p.LeafHash)
	if err != nil {
		return fmt.Errorf("leaf_hash: %w", err)
	}
	if p.LeafData != nil {
		data, err := base64.StdEncoding.Strict().DecodeString(*p.LeafData)
		if err != nil {
			return fmt.Errorf("leaf_data: %w", err)
		}
		if got := tlog.RecordHash(data); got != leaf {
			return fmt.Errorf("tlog.RecordHash(leaf_data) is %s, not leaf_hash", got)
		}
	}
	hashes, err := parseHashes(p.Hashes)
	if err != nil {
		return fmt.Errorf("hashes: %w", err)
	}
	if err := tlog.CheckRecord(tlog.RecordProof(hashes), p.TreeSize, root, p.Index, leaf); err != nil {
		return fmt.Errorf("tlog.CheckRecord(index %d, size %d): %w", p.Index, p.TreeSize, err)
	}
	return nil
}

// root is the hash given (hex or base64), checked against any opened checkpoint of that size,
// or else that checkpoint's root.
func rootOf(size int64, given *string, roots map[int64]tlog.Hash) (tlog.Hash, error) {
	opened, ok := roots[size]
	if given == nil {
		if !ok {
			return tlog.Hash{}, fmt.Errorf("no root given and no opened checkpoint of size %d", size)
		}
		return opened, nil
	}
	h, err := parseHash(*given)
	if err != nil {
		return tlog.Hash{}, err
	}
	if ok && !bytes.Equal(h[:], opened[:]) {
		return tlog.Hash{}, fmt.Errorf("root given for size %d is not the checkpoint's", size)
	}
	return h, nil
}

func checkConsistency(p consistencyProof, roots map[int64]tlog.Hash) error {
	first, err := rootOf(p.First, p.FirstRoot, roots)
	if err != nil {
		return fmt.Errorf("first_root: %w", err)
	}
	second, err := rootOf(p.Second, p.SecondRoot, roots)
	if err != nil {
		return fmt.Errorf("second_root: %w", err)
	}
	hashes, err := parseHashes(p.Hashes)
	if err != nil {
		return fmt.Errorf("hashes: %w", err)
	}
	if err := tlog.CheckTree(tlog.TreeProof(hashes), p.Second, second, p.First, first); err != nil {
		return fmt.Errorf("tlog.CheckTree(%d, %d): %w", p.First, p.Second, err)
	}
	return nil
}
