// Tests of the console's in-browser verifier, api/static/verify.js, with node's test runner:
//   node --test tests/js/
// The helpers are checked against the project's own vectors (tests/vectors: RFC 6962 Merkle
// trees and C2SP signed notes, computed with Go). Real documents come from the Python side:
// tests/test_console_verifier.py writes cases.json (documents, options, consistency proofs,
// expected outcomes) to a directory named by CARBON_LEDGER_VERIFIER_FIXTURES and runs this
// file; every case is checked here and what verifyDocument answered is written to
// results.json in that directory for the Python test to check as well.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import {
  CHECKS,
  canonicalJson,
  checkpointBody,
  lastCheckpoint,
  leafHash,
  nodeHash,
  openNote,
  parseCheckpoint,
  parseVkey,
  rememberCheckpoint,
  toHex,
  verifyConsistency,
  verifyDocument,
  verifyInclusion,
  verifyMapProof,
} from "../../api/static/verify.js";

const vectors = (name) => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url)));
const merkle = vectors("merkle-rfc6962.json");
const notes = vectors("signed-note.json");
const EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

function flipped(hex) {
  return (hex[0] === "0" ? "1" : "0") + hex.slice(1);
}

async function rejectsWith(promise, check) {
  await assert.rejects(promise, (error) => {
    assert.equal(error.check, check, error.message);
    return true;
  });
}

/** A localStorage stand-in. */
class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

test("leaf hashes are RFC 6962 leaf hashes", async () => {
  for (const [i, data] of merkle.Leaves.entries()) {
    assert.equal(toHex(await leafHash(data)), merkle.LeafHashes[i]);
  }
  assert.equal(
    toHex(await leafHash(new Uint8Array())),
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  );
});

test("inclusion proofs verify as RFC 9162 2.1.3.2 says, and tampered ones do not", async () => {
  for (const c of merkle.Inclusion) {
    await verifyInclusion(c.Index, c.TreeSize, c.LeafHash, c.Path, c.Root);
    await verifyInclusion(BigInt(c.Index), BigInt(c.TreeSize), c.LeafHash, c.Path, c.Root);
    await rejectsWith(
      verifyInclusion(c.Index, c.TreeSize, flipped(c.LeafHash), c.Path, c.Root),
      "inclusion",
    );
    await rejectsWith(
      verifyInclusion(c.Index, c.TreeSize, c.LeafHash, [...c.Path, c.Root], c.Root),
      "inclusion",
    );
    await rejectsWith(
      verifyInclusion(c.TreeSize, c.TreeSize, c.LeafHash, c.Path, c.Root),
      "inclusion",
    );
    if (c.Path.length) {
      await rejectsWith(
        verifyInclusion(c.Index, c.TreeSize, c.LeafHash, c.Path.slice(1), c.Root),
        "inclusion",
      );
      const bad = [flipped(c.Path[0]), ...c.Path.slice(1)];
      await rejectsWith(verifyInclusion(c.Index, c.TreeSize, c.LeafHash, bad, c.Root), "inclusion");
    }
    if (c.TreeSize > 1) {
      const other = (c.Index + 1) % c.TreeSize;
      await rejectsWith(
        verifyInclusion(other, c.TreeSize, c.LeafHash, c.Path, c.Root),
        "inclusion",
      );
    }
  }
  await rejectsWith(verifyInclusion(0, 1, "00", [], EMPTY_ROOT), "inclusion");
  await rejectsWith(verifyInclusion(-1, 1, EMPTY_ROOT, [], EMPTY_ROOT), "inclusion");
  await rejectsWith(verifyInclusion(0, 2 ** 53, EMPTY_ROOT, [], EMPTY_ROOT), "inclusion");
});

test("a proof in a tree of 2^64-1 leaves is walked in BigInt, never in floats", async () => {
  const size = (1n << 64n) - 1n;
  // the last leaf of such a tree has 63 left siblings (one per set bit below the top)
  const path = Array.from({ length: 63 }, (_, i) => toHex(new Uint8Array(32).fill(i)));
  await rejectsWith(verifyInclusion(size - 1n, size, EMPTY_ROOT, path, EMPTY_ROOT), "inclusion");
  await assert.rejects(
    verifyInclusion(size - 1n, size, EMPTY_ROOT, path.slice(1), EMPTY_ROOT),
    /fewer hashes/,
  );
  await rejectsWith(verifyInclusion(0, size + 1n, EMPTY_ROOT, path, EMPTY_ROOT), "inclusion");
});

test("consistency proofs verify as RFC 9162 2.1.4.2 says, and tampered ones do not", async () => {
  for (const c of merkle.Consistency) {
    await verifyConsistency(c.Size1, c.Size2, c.Root1, c.Root2, c.Proof);
    await rejectsWith(
      verifyConsistency(c.Size1, c.Size2, flipped(c.Root1), c.Root2, c.Proof),
      "consistency",
    );
    if (c.Size1 !== c.Size2 || c.Root1 !== c.Root2) {
      await rejectsWith(
        verifyConsistency(c.Size1, c.Size2, c.Root1, flipped(c.Root2), c.Proof),
        "consistency",
      );
    }
    if (c.Proof.length) {
      const bad = [...c.Proof.slice(0, -1), flipped(c.Proof.at(-1))];
      await rejectsWith(verifyConsistency(c.Size1, c.Size2, c.Root1, c.Root2, bad), "consistency");
      await rejectsWith(
        verifyConsistency(c.Size1, c.Size2, c.Root1, c.Root2, c.Proof.slice(1)),
        "consistency",
      );
    }
    await rejectsWith(
      verifyConsistency(c.Size1, c.Size2, c.Root1, c.Root2, [...c.Proof, c.Root1]),
      "consistency",
    );
  }
  // every tree extends the empty tree (crypto/merkle.py), with an empty proof only
  await verifyConsistency(0, 5, EMPTY_ROOT, merkle.Roots[4], []);
  await rejectsWith(verifyConsistency(0, 5, merkle.Roots[0], merkle.Roots[4], []), "consistency");
  await rejectsWith(verifyConsistency(5, 4, merkle.Roots[4], merkle.Roots[3], []), "consistency");
});

test("account map proofs verify as crypto/account_map.py says, and bad ones do not", async () => {
  const key = (byte) => new Uint8Array(32).fill(byte); // 0x00.. goes left, 0xff.. right
  const head = (byte) => toHex(new Uint8Array(32).fill(byte));
  const left = { key: toHex(key(0x00)), head: head(1) };
  const right = { key: toHex(key(0xff)), head: head(2) };
  const leafOf = (leaf) => leafHash(fromHexText(leaf.key + leaf.head)); // 0x00 || key || head
  const [l, r] = [await leafOf(left), await leafOf(right)];
  const root = await nodeHash(l, r);
  const proofOf = (leaf, sibling) => ({ leaf, siblings: [toHex(sibling)] });
  assert.equal(await verifyMapProof(root, key(0x00), proofOf(left, r)), left.head);
  assert.equal(await verifyMapProof(root, key(0xff), proofOf(right, l)), right.head);
  // non-membership: another key on the left's path ends at the left account
  const near = key(0x01);
  assert.equal(await verifyMapProof(root, near, proofOf(left, r)), null);
  // one account alone is the root; an empty map's root is 32 zero bytes
  assert.equal(await verifyMapProof(l, key(0x00), { leaf: left, siblings: [] }), left.head);
  assert.equal(await verifyMapProof(new Uint8Array(32), near, { leaf: null, siblings: [] }), null);
  const bad = [
    { leaf: right, siblings: [toHex(l)] }, // the right account is not on 0x00's path
    { leaf: left, siblings: [flipped(toHex(r))] },
    { leaf: left, siblings: [toHex(r), toHex(r)] },
    { leaf: left, siblings: Array(257).fill(toHex(r)) },
    { leaf: left, siblings: [7] },
    { leaf: "left", siblings: [toHex(r)] },
    { leaf: { key: left.key }, siblings: [toHex(r)] },
    { leaf: left },
    null,
  ];
  for (const proof of bad) await rejectsWith(verifyMapProof(root, key(0x00), proof), "map proof");
});

function fromHexText(hex) {
  return Uint8Array.from(hex.match(/../g), (pair) => parseInt(pair, 16));
}

test("verifier keys parse as C2SP signed-note says, bad ones are refused", async () => {
  const key = await parseVkey(notes.verifier_key);
  assert.equal(key.name, "PeterNeumann");
  assert.equal(key.keyId, "PeterNeumann+c74f20a3");
  assert.equal(key.text, notes.verifier_key);
  assert.equal((await parseVkey(notes.verifier_key + "\n")).keyId, key.keyId);
  for (const bad of [...notes.bad_keys, "", "name", "name+c74f20a3", "na me+c74f20a3+AAAA"]) {
    await rejectsWith(parseVkey(bad), "format");
  }
  await rejectsWith(parseVkey(notes.verifier_key.replace("c74f20a3", "c74f20a4")), "format");
  await rejectsWith(parseVkey(42), "format");
});

test("signed notes open as Go's note.Open opens them", async () => {
  const peter = await parseVkey(notes.verifier_key);
  const enoch = await parseVkey(notes.other_verifier_key);
  const opened = await openNote(notes.signed_note, [peter]);
  assert.equal(opened.text, notes.text);
  assert.deepEqual(
    opened.verified.map((s) => s.keyId),
    ["PeterNeumann+c74f20a3"],
  );
  const cosigned = await openNote(notes.cosigned_note, [peter]);
  assert.deepEqual(
    cosigned.unverified.map((s) => s.keyId),
    ["EnochRoot+af0cfe78"],
  );
  const both = await openNote(notes.cosigned_note, [peter, enoch]);
  assert.equal(both.verified.length, 2);
  const bytes = new TextEncoder().encode(notes.signed_note);
  assert.equal((await openNote(bytes, [peter])).text, notes.text);
  await assert.rejects(openNote(notes.signed_note, [enoch]), { reason: "unverified" });
  const edited = notes.signed_note.replace("cryptography", "Cryptography");
  await assert.rejects(openNote(edited, [peter]), { reason: "invalid signature" });
  for (const malformed of [
    notes.text,
    notes.signed_note.slice(0, -1),
    notes.signed_note.replace("\u2014 ", "- "),
    notes.signed_note.replace("you", "you\x01"),
    notes.text + "\n\u2014 PeterNeumann AAAA\n",
    notes.text + "\n\u2014 Peter+Neumann x08go/ZJ\n",
    notes.text + "\n",
  ]) {
    await assert.rejects(openNote(malformed, [peter]), { reason: "malformed" });
  }
  // a known key's repeated signature is skipped, an unknown key's repeat listed once
  const twice = notes.cosigned_note + notes.cosigned_note.split("\n\n")[1];
  const repeated = await openNote(twice, [peter]);
  assert.equal(repeated.verified.length, 1);
  assert.equal(repeated.unverified.length, 1);
});

test("checkpoints parse strictly (C2SP tlog-checkpoint)", () => {
  const root = Buffer.from(merkle.Roots[4], "hex").toString("base64");
  const parsed = parseCheckpoint(`example.com/log\n5\n${root}\n`);
  assert.deepEqual(
    [parsed.origin, parsed.size, toHex(parsed.rootHash)],
    ["example.com/log", 5n, merkle.Roots[4]],
  );
  assert.equal(checkpointBody(parsed), `example.com/log\n5\n${root}\n`);
  const max = parseCheckpoint(`o\n18446744073709551615\n${root}\next\n`);
  assert.equal(max.size, (1n << 64n) - 1n);
  assert.deepEqual(max.extensions, ["ext"]);
  for (const bad of [
    `o\n5\n${root}`,
    `o\n5\n`,
    `\n5\n${root}\n`,
    `o\n05\n${root}\n`,
    `o\n-5\n${root}\n`,
    `o\n18446744073709551616\n${root}\n`,
    `o\n5\n${root.slice(0, -4)}\n`,
    `o\n5\nnot base64\n`,
    `o\n5\n${root}\n\n`,
  ]) {
    assert.throws(() => parseCheckpoint(bad), { check: "format" }, JSON.stringify(bad));
  }
});

test("canonical JSON sorts members by UTF-16 code units and escapes as JCS", () => {
  const value = { seq: 1, log: "l", leaf_hash: "h", account: 'a\u2028"\n\u0001é😀' };
  assert.equal(
    canonicalJson(value),
    '{"account":"a\u2028\\"\\n\\u0001é😀","leaf_hash":"h","log":"l","seq":1}',
  );
  assert.equal(canonicalJson({ "\u{1F600}": 1, "\uFFFF": 2 }), '{"😀":1,"\uFFFF":2}');
  assert.throws(() => canonicalJson({ a: 0.5 }), { check: "format" });
  assert.throws(() => canonicalJson({ a: 2 ** 53 }), { check: "format" });
  assert.throws(() => canonicalJson({ a: "\ud800" }), { check: "format" });
});

test("the newest verified checkpoint is remembered per origin, never an older one", () => {
  const storage = new MemoryStorage();
  assert.equal(lastCheckpoint(storage, "log.a"), null);
  const five = { size: 5, rootHash: merkle.Roots[4] };
  assert.deepEqual(rememberCheckpoint(storage, "log.a", five), five);
  assert.deepEqual(lastCheckpoint(storage, "log.a"), five);
  const three = { size: 3, rootHash: merkle.Roots[2] };
  assert.deepEqual(rememberCheckpoint(storage, "log.a", three), five);
  assert.deepEqual(lastCheckpoint(storage, "log.a"), five);
  assert.equal(lastCheckpoint(storage, "log.b"), null);
  const base64Root = Buffer.from(merkle.Roots[7], "hex").toString("base64");
  assert.deepEqual(rememberCheckpoint(storage, "log.a", { size: 8n, rootHash: base64Root }), {
    size: 8,
    rootHash: merkle.Roots[7],
  });
  storage.setItem("carbon-ledger/checkpoint/log.c", "{not json");
  assert.equal(lastCheckpoint(storage, "log.c"), null);
  const broken = {
    getItem: () => {
      throw new Error("denied");
    },
  };
  assert.equal(lastCheckpoint(broken, "log.a"), null);
  assert.throws(() => rememberCheckpoint(storage, "log.a", { size: 1 }), TypeError);
});

test("bad input never throws: it fails the format check", async () => {
  const logKey = notes.verifier_key;
  const inputs = [
    undefined,
    null,
    42,
    {},
    [],
    "",
    " ",
    "{",
    "[]",
    "null",
    '"x"',
    "{}",
    '{"seq": 1e400}',
    '{"leaf_hash": 1}',
    "\u2014",
    "c2sp.org/tlog-proof@v1\n",
    "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
    notes.signed_note,
    new Uint8Array([0xff, 0xfe]),
    new ArrayBuffer(3),
    "x".repeat(2 ** 21),
  ];
  for (const input of inputs) {
    const result = await verifyDocument(input, { logKey });
    assert.equal(result.ok, false, String(input).slice(0, 40));
    assert.equal(result.check, "format", `${String(input).slice(0, 40)}: ${result.detail}`);
  }
  for (const options of [
    undefined,
    null,
    {},
    { logKey: 1 },
    { logKey: "x+y+z" },
    { logKey, origin: 5 },
  ]) {
    const result = await verifyDocument("{}", options);
    assert.deepEqual([result.ok, result.check], [false, "format"]);
  }
  // the vector's note is signed by PeterNeumann but is no checkpoint
  const result = await verifyDocument(notes.signed_note, { logKey });
  assert.match(result.detail, /checkpoint/);
});

// ------------------------------------------------------------------------------------------
// Real documents from the Python side

const fixtures = process.env.CARBON_LEDGER_VERIFIER_FIXTURES;

function optionsFor(testCase, proofs) {
  const options = { ...testCase.options };
  if (testCase.fetch) {
    options.fetchConsistency = async (first, second) => {
      assert.equal(typeof first, "number");
      const hashes = proofs[`${first} ${second}`];
      if (!hashes) throw new Error(`the log has no proof from ${first} to ${second}`);
      return hashes;
    };
  }
  return options;
}

function assertOutcome(testCase, result) {
  const { expect, name } = testCase;
  assert.equal(typeof result.ok, "boolean", name);
  if (!expect.ok) {
    assert.equal(result.ok, false, `${name}: verified, but ${expect.check} should fail`);
    assert.equal(result.check, expect.check, `${name}: ${result.detail}`);
    assert.ok(CHECKS.includes(result.check));
    assert.equal(typeof result.detail, "string");
    return;
  }
  assert.equal(result.ok, true, `${name}: ${result.check}: ${result.detail}`);
  assert.equal(result.kind, expect.kind, name);
  for (const [field, value] of Object.entries(expect.facts)) {
    assert.deepEqual(result.facts[field], value, `${name}: facts.${field}`);
  }
  assert.equal(result.checkpoint.size, result.facts.checkpointSize);
  assert.match(result.checkpoint.rootHash, /^[0-9a-f]{64}$/);
  JSON.stringify(result); // a page may show it as JSON: no BigInt in it
}

if (fixtures) {
  const { cases, proofs } = JSON.parse(readFileSync(join(fixtures, "cases.json"), "utf8"));
  const results = {};
  for (const testCase of cases) {
    results[testCase.name] = await verifyDocument(testCase.document, optionsFor(testCase, proofs));
  }
  writeFileSync(join(fixtures, "results.json"), JSON.stringify(results, null, 1));

  for (const testCase of cases) {
    test(`document: ${testCase.name}`, () => assertOutcome(testCase, results[testCase.name]));
  }

  test("a remembered checkpoint carries over from one document to the next", async () => {
    const storage = new MemoryStorage();
    const honest = cases.filter((c) => c.expect.ok && c.options.logKey && !c.options.allowOlder);
    const byKind = (kind) => honest.find((c) => c.expect.kind === kind);
    const receipt = byKind("receipt");
    const statement = byKind("grade-statement");
    const options = (testCase) => {
      const { logKey } = testCase.options;
      const origin = logKey.split("+")[0];
      const last = lastCheckpoint(storage, origin);
      return { ...optionsFor(testCase, proofs), lastCheckpoint: last };
    };
    for (const testCase of [receipt, statement]) {
      const result = await verifyDocument(testCase.document, options(testCase));
      assert.equal(result.ok, true, `${testCase.name}: ${result.detail}`);
      rememberCheckpoint(storage, result.checkpoint.origin, result.checkpoint);
    }
    // the receipt's tree is older than the statement's now remembered: a rollback
    const again = await verifyDocument(receipt.document, options(receipt));
    assert.deepEqual([again.ok, again.check], [false, "consistency"]);
    const older = await verifyDocument(receipt.document, { ...options(receipt), allowOlder: true });
    assert.equal(older.ok, true, older.detail);
  });

  test("mutated documents never throw and never verify", async () => {
    const honest = cases.filter((c) => c.expect.ok && c.options.lastCheckpoint === undefined);
    let state = 12345;
    const random = (n) => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    for (const testCase of honest) {
      const text = testCase.document;
      for (let round = 0; round < 40; round++) {
        const at = random(text.length);
        const replacement = '0aZ+/ \n{}"-9\u2014'.charAt(random(14));
        const mutated = text.slice(0, at) + replacement + text.slice(at + 1);
        if (mutated === text) continue;
        const result = await verifyDocument(mutated, optionsFor(testCase, proofs));
        assert.equal(typeof result.ok, "boolean");
        if (result.ok) {
          // only a change the signatures do not cover may pass: JSON layout, proof
          // encoding of the same bytes, or a cosignature-free tail
          assert.deepEqual(
            result.facts.leafHash,
            (await verifyDocument(text, optionsFor(testCase, proofs))).facts.leafHash,
          );
        } else {
          assert.ok(CHECKS.includes(result.check), result.check);
        }
      }
    }
  });
}
