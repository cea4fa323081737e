// Command tiletool reads the log's C2SP tlog-tiles with golang.org/x/mod/sumdb/tlog, for the
// Python test tests/test_go_tiles_interop.py.
//
// It reads one JSON object on stdin:
//
//	{
//	  "dir": "PATH",                         tiles as served: DIR/tile/<L>/<N>[.p/<W>] and
//	                                         DIR/tile/entries/<N>[.p/<W>]
//	  "tree": {"size": N, "root": BASE64},   the checkpoint the tiles are read for
//	  "older": [{"size": M, "root": BASE64}], earlier checkpoints of the same log
//	  "records": [I, ...]                     record indexes to prove
//	}
//
// A tlog.TileReader over DIR serves tiles of height 8, mapping Go's tile/8/<L>/... and
// tile/8/data/... paths to the served tile/<L>/... and tile/entries/...; every hash is read
// through tlog.TileHashReader(tree, reader), which authenticates the tiles it loads against
// the tree. It checks that tlog.TreeHash is the root; reads every record hash and checks
// that tlog.RecordHash of each entry in the entry bundles (big-endian uint16 length, then the
// entry) is the record hash; proves each record with tlog.ProveRecord and checks the proof
// with tlog.CheckRecord; and proves each older tree with tlog.ProveTree and tlog.CheckTree.
//
// It prints {"tree_hash": R, "records": R, "entries": R, "inclusion": [R, ...],
// "consistency": [R, ...], "new_tiles": [PATH, ...], "tiles_read": [PATH, ...]}, each R being
// {"ok": bool, "err": string}; new_tiles are the served paths of tlog.NewTiles(8, 0, N) and
// tiles_read those the reader was asked for. It exits 1 if any check failed, 2 if the input
// could not be read.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type treeHead struct {
	Size int64  `json:"size"`
	Root string `json:"root"`
}

type input struct {
	Dir     string     `json:"dir"`
	Tree    treeHead   `json:"tree"`
	Older   []treeHead `json:"older"`
	Records []int64    `json:"records"`
}

type result struct {
	OK  bool   `json:"ok"`
	Err string `json:"err"`
}

type output struct {
	TreeHash    result   `json:"tree_hash"`
	Records     result   `json:"records"`
	Entries     result   `json:"entries"`
	Inclusion   []result `json:"inclusion"`
	Consistency []result `json:"consistency"`
	NewTiles    []string `json:"new_tiles"`
	TilesRead   []string `json:"tiles_read"`
}

// servedPath is the path the log serves tile t at: Go's path without the height element,
// with "entries" for Go's "data" level.
func servedPath(t tlog.Tile) string {
	p := t.Path()
	if t.L == -1 {
		return strings.Replace(p, fmt.Sprintf("tile/%d/data/", height), "tile/entries/", 1)
	}
	return strings.Replace(p, fmt.Sprintf("tile/%d/", height), "tile/", 1)
}

// dirTiles is a tlog.TileReader over tile files in a directory, remembering what was read.
type dirTiles struct {
	dir  string
	read map[string]bool
}

func (r *dirTiles) Height() int { return height }

func (r *dirTiles) readTile(t tlog.Tile) ([]byte, error) {
	path := servedPath(t)
	r.read[path] = true
	data, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(path)))
	if err != nil {
		return nil, fmt.Errorf("tile %s: %w", path, err)
	}
	return data, nil
}

func (r *dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	for i, t := range tiles {
		d, err := r.readTile(t)
		if err != nil {
			return nil, err
		}
		data[i] = d
	}
	return data, nil
}

func (r *dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func toResult(err error) result {
	if err != nil {
		return result{OK: false, Err: err.Error()}
	}
	return result{OK: true}
}

func parseTree(head treeHead) (tlog.Tree, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(head.Root)
	if err != nil || len(raw) != tlog.HashSize {
		return tlog.Tree{}, fmt.Errorf("root %q is not base64 of 32 bytes", head.Root)
	}
	tree := tlog.Tree{N: head.Size}
	copy(tree.Hash[:], raw)
	return tree, nil
}

func checkTreeHash(tree tlog.Tree, hr tlog.HashReader) error {
	th, err := tlog.TreeHash(tree.N, hr)
	if err != nil {
		return fmt.Errorf("tlog.TreeHash: %w", err)
	}
	if th != tree.Hash {
		return errors.New("tlog.TreeHash is not the checkpoint's root")
	}
	return nil
}

func readRecordHashes(tree tlog.Tree, hr tlog.HashReader) ([]tlog.Hash, error) {
	indexes := make([]int64, tree.N)
	for i := range indexes {
		indexes[i] = tlog.StoredHashIndex(0, int64(i))
	}
	hashes, err := hr.ReadHashes(indexes)
	if err != nil {
		return nil, fmt.Errorf("ReadHashes of the record hashes: %w", err)
	}
	return hashes, nil
}

// checkEntries reads every entry bundle of the tree and compares its entries' record hashes.
func checkEntries(tree tlog.Tree, r *dirTiles, hashes []tlog.Hash) error {
	for n := int64(0); n<<height < tree.N; n++ {
		w := tree.N - n<<height
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: n, W: int(w)}
		data, err := r.readTile(t)
		if err != nil {
			return err
		}
		for i := int64(0); i < w; i++ {
			if len(data) < 2 || len(data) < 2+int(binary.BigEndian.Uint16(data)) {
				return fmt.Errorf("%s ends inside entry %d", servedPath(t), i)
			}
			size := int(binary.BigEndian.Uint16(data))
			entry := data[2 : 2+size]
			data = data[2+size:]
			if tlog.RecordHash(entry) != hashes[n<<height+i] {
				return fmt.Errorf("tlog.RecordHash of entry %d is not its record hash", n<<height+i)
			}
		}
		if len(data) != 0 {
			return fmt.Errorf("%s has %d bytes after its %d entries", servedPath(t), len(data), w)
		}
	}
	return nil
}

func checkInclusion(tree tlog.Tree, hr tlog.HashReader, index int64) error {
	leaf, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	if err != nil {
		return fmt.Errorf("ReadHashes of record %d: %w", index, err)
	}
	proof, err := tlog.ProveRecord(tree.N, index, hr)
	if err != nil {
		return fmt.Errorf("tlog.ProveRecord(%d, %d): %w", tree.N, index, err)
	}
	if err := tlog.CheckRecord(proof, tree.N, tree.Hash, index, leaf[0]); err != nil {
		return fmt.Errorf("tlog.CheckRecord(%d, %d): %w", tree.N, index, err)
	}
	return nil
}

func checkConsistency(tree tlog.Tree, hr tlog.HashReader, head treeHead) error {
	older, err := parseTree(head)
	if err != nil {
		return err
	}
	proof, err := tlog.ProveTree(tree.N, older.N, hr)
	if err != nil {
		return fmt.Errorf("tlog.ProveTree(%d, %d): %w", tree.N, older.N, err)
	}
	if err := tlog.CheckTree(proof, tree.N, tree.Hash, older.N, older.Hash); err != nil {
		return fmt.Errorf("tlog.CheckTree(%d, %d): %w", tree.N, older.N, err)
	}
	return nil
}

func main() {
	var in input
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "tiletool: reading input:", err)
		os.Exit(2)
	}
	tree, err := parseTree(in.Tree)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tiletool: tree:", err)
		os.Exit(2)
	}
	reader := &dirTiles{dir: in.Dir, read: map[string]bool{}}
	hr := tlog.TileHashReader(tree, reader)

	out := output{
		Inclusion:   []result{},
		Consistency: []result{},
		NewTiles:    []string{},
		TilesRead:   []string{},
	}
	failed := false
	check := func(err error) result {
		failed = failed || err != nil
		return toResult(err)
	}
	out.TreeHash = check(checkTreeHash(tree, hr))
	hashes, err := readRecordHashes(tree, hr)
	out.Records = check(err)
	if err == nil {
		out.Entries = check(checkEntries(tree, reader, hashes))
	} else {
		out.Entries = check(errors.New("no record hashes to compare the entries with"))
	}
	for _, index := range in.Records {
		out.Inclusion = append(out.Inclusion, check(checkInclusion(tree, hr, index)))
	}
	for _, head := range in.Older {
		out.Consistency = append(out.Consistency, check(checkConsistency(tree, hr, head)))
	}
	for _, t := range tlog.NewTiles(height, 0, tree.N) {
		out.NewTiles = append(out.NewTiles, servedPath(t))
	}
	for path := range reader.read {
		out.TilesRead = append(out.TilesRead, path)
	}
	sort.Strings(out.TilesRead)

	text, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tiletool:", err)
		os.Exit(2)
	}
	fmt.Println(string(text))
	if failed {
		os.Exit(1)
	}
}
