// Command notetool drives golang.org/x/mod/sumdb/note (and tlog's tree notes) for the Python
// interoperability tests in tests/crypto/test_go_interop.py.
//
// Usage:
//
//	notetool generate NAME              print a new signer key and verifier key, one a line
//	notetool vkey VKEY                  check a verifier key with note.NewVerifier
//	notetool skey SKEY                  check a signer key with note.NewSigner
//	notetool sign SKEY... < TEXT        sign TEXT with note.Sign
//	notetool cosign VKEY SKEY < NOTE    open NOTE with VKEY, then add a signature by SKEY
//	notetool open VKEY... < NOTE        open NOTE with note.Open; print the result as JSON
//	notetool tree SKEY N HASH           sign tlog.FormatTree(N, HASH) (a checkpoint)
//	notetool opentree VKEY < NOTE       open NOTE, parse it with tlog.ParseTree, print "N HASH"
//
// Errors go to stderr with exit status 1.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type signature struct {
	Name   string `json:"name"`
	Hash   uint32 `json:"hash"`
	Base64 string `json:"base64"`
}

type opened struct {
	Text       string      `json:"text"`
	Sigs       []signature `json:"sigs"`
	Unverified []signature `json:"unverified"`
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: notetool COMMAND ARGS..."))
	}
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "generate":
		err = generate(args)
	case "vkey":
		_, err = note.NewVerifier(arg(args, 0))
	case "skey":
		_, err = note.NewSigner(arg(args, 0))
	case "sign":
		err = sign(args)
	case "cosign":
		err = cosign(args)
	case "open":
		err = open(args)
	case "tree":
		err = tree(args)
	case "opentree":
		err = openTree(args)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "notetool:", err)
	os.Exit(1)
}

func arg(args []string, i int) string {
	if i >= len(args) {
		fail(fmt.Errorf("missing argument %d", i+1))
	}
	return args[i]
}

func generate(args []string) error {
	skey, vkey, err := note.GenerateKey(rand.Reader, arg(args, 0))
	if err != nil {
		return err
	}
	fmt.Printf("%s\n%s\n", skey, vkey)
	return nil
}

func signers(skeys []string) ([]note.Signer, error) {
	var list []note.Signer
	for _, skey := range skeys {
		s, err := note.NewSigner(skey)
		if err != nil {
			return nil, err
		}
		list = append(list, s)
	}
	return list, nil
}

func verifiers(vkeys []string) (note.Verifiers, error) {
	var list []note.Verifier
	for _, vkey := range vkeys {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return note.VerifierList(list...), nil
}

func sign(args []string) error {
	list, err := signers(args)
	if err != nil {
		return err
	}
	text, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, list...)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(msg)
	return err
}

func openStdin(vkeys []string) (*note.Note, error) {
	known, err := verifiers(vkeys)
	if err != nil {
		return nil, err
	}
	msg, err := io.ReadAll(os.Stdin)
	if err != nil {
		return nil, err
	}
	return note.Open(msg, known)
}

func cosign(args []string) error {
	n, err := openStdin([]string{arg(args, 0)})
	if err != nil {
		return err
	}
	list, err := signers([]string{arg(args, 1)})
	if err != nil {
		return err
	}
	msg, err := note.Sign(n, list...)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(msg)
	return err
}

func convert(sigs []note.Signature) []signature {
	out := []signature{}
	for _, s := range sigs {
		out = append(out, signature{s.Name, s.Hash, s.Base64})
	}
	return out
}

func open(args []string) error {
	n, err := openStdin(args)
	if err != nil {
		return err
	}
	out, err := json.Marshal(opened{n.Text, convert(n.Sigs), convert(n.UnverifiedSigs)})
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

func tree(args []string) error {
	list, err := signers([]string{arg(args, 0)})
	if err != nil {
		return err
	}
	size, err := strconv.ParseInt(arg(args, 1), 10, 64)
	if err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(arg(args, 2))
	if err != nil || len(raw) != tlog.HashSize {
		return fmt.Errorf("hash must be base64 of %d bytes", tlog.HashSize)
	}
	var hash tlog.Hash
	copy(hash[:], raw)
	msg, err := note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: size, Hash: hash}))}, list...)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(msg)
	return err
}

func openTree(args []string) error {
	n, err := openStdin([]string{arg(args, 0)})
	if err != nil {
		return err
	}
	t, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return err
	}
	fmt.Printf("%d %s\n", t.N, t.Hash)
	return nil
}
