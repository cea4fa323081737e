/**
 * Carbon Ledger console verifier: checks a receipt, a signed statement or a tlog-proof in
 * the browser, with WebCrypto only (SHA-256 and Ed25519). One ES module, no dependencies,
 * no eval: it runs in Chromium and in Node 20 (`globalThis.crypto.subtle`).
 *
 * The Python code is the source of truth for every format checked here: crypto/note.py,
 * crypto/keys.py, crypto/checkpoint.py, crypto/merkle.py, crypto/records.py,
 * crypto/grade_statement.py, crypto/period_statement.py, crypto/account_map.py,
 * crypto/map_head.py and client/ledger_client.py.
 *
 * verifyDocument(input, options) -> Promise<result>
 *   input: the text a person pastes or drops (a string, or its UTF-8 bytes), one of
 *     - kind "receipt": the JSON receipt POST /v1/submissions?wait=true answers once the entry
 *       is integrated: {account, seq, leaf_hash, entry, log, signature, index, checkpoint,
 *       inclusion}. A receipt without `inclusion` (not yet integrated) fails `inclusion`.
 *     - kind "grade-statement": the JSON answer of GET /v1/accounts/{id}/grade-statement,
 *       {statement, checkpoint, entry, inclusion} (the grade's leaf and index are in the
 *       ledger-signed statement).
 *     - kind "period-statement": the JSON answer of GET /v1/accounts/{id}/period-statement,
 *       {statement, checkpoint, index, entry, inclusion, map, consistency} (the account's
 *       head entry, and the account map's signed head with the proof that the head is the
 *       account's newest: facts.currentAsOf is the map head's tree size).
 *     - kind "tlog-proof": a c2sp.org/tlog-proof@v1 file (https://c2sp.org/tlog-proof). The
 *       format carries no entry, only its index: the leaf hash comes from options.leafHash,
 *       options.entry, or the proof's `extra` data, which this page reads as the entry's
 *       bytes. Extra data is never trusted as such: only its leaf hash, proven included in
 *       the signed checkpoint, makes it the entry.
 *     - kind "checkpoint": a bare C2SP signed checkpoint (as GET /v1/log/checkpoint answers).
 *   options: {
 *     logKey: the ledger's verifier key text `NAME+HHHHHHHH+BASE64(0x01 || public key)`
 *             (GET /v1/log/key), required;
 *     logKeys?: after rotations of the ledger key, its history `[[fromIndex, vkey], ...]`
 *             oldest first (the first from -1; the page gives it from GET /v1/log/keys):
 *             a checkpoint must be signed by the key of its size, a receipt by any of them;
 *     origin?: the log's origin (default: the key's name, as the Python client uses);
 *     lastCheckpoint?: {size, rootHash}: the newest checkpoint this page verified before
 *             (size a number, bigint or decimal string; rootHash 64 hex digits or base64);
 *     fetchConsistency?: async (first, second) => [hex hashes] (or the JSON object of
 *             GET /v1/log/proof/consistency?first=M&second=N, {first, second, hashes});
 *     allowOlder?: with a lastCheckpoint, accept a document whose checkpoint is older than
 *             it if the remembered one provably extends it (default false: older is a
 *             rollback, as for the Python client, which only ever sees fresh answers);
 *     leafHash?, entry?: for a tlog-proof, the entry's leaf hash (hex) or bytes (base64 or
 *             Uint8Array).
 *   }
 *   result, on success: {ok: true, kind, facts, checkpoint: {origin, size, rootHash}}, where
 *     checkpoint is the document's verified checkpoint (size a number, rootHash hex: what
 *     rememberCheckpoint keeps) and facts what was proven (account, seq, leafHash, index,
 *     checkpointSize, the statement's fields, the decoded entry, and consistentWith: the
 *     size of the remembered checkpoint it was proven consistent with, or null).
 *   result, on failure: {ok: false, check, detail}, `check` being one of these stable names:
 *     "format"               the input, an option, or a part of the document is malformed
 *                            (not JSON, wrong types, a number beyond 2^53-1, a malformed
 *                            note, key, checkpoint or proof file, an unsupported kind);
 *     "receipt signature"    the ledger's Ed25519 signature on the receipt's promise
 *                            `carbon-ledger/receipt/v1\n` + canonical JSON of {account, seq,
 *                            leaf_hash, log} is not valid under the log key;
 *     "checkpoint signature" the checkpoint note has no valid signature by the log key;
 *     "origin"               the checkpoint (or the receipt's `log`) names another log;
 *     "leaf hash"            SHA-256(0x00 || entry) is not the leaf hash the signed document
 *                            states (receipt leaf_hash, grade statement leaf, period
 *                            statement head, or options.leafHash for a tlog-proof);
 *     "inclusion"            the inclusion proof does not lead from the leaf at its index to
 *                            the checkpoint's root (or there is none, or a hash is not hex);
 *     "consistency"          the checkpoint is not consistent with the remembered one:
 *                            older (rolled back), another root at the same size (split
 *                            view), or a consistency proof that is missing or does not verify;
 *     "statement signature"  the statement note has no valid signature by the log key;
 *     "statement"            the signed statement is not well formed, or its checkpoint is
 *                            not the checkpoint sent with it;
 *     "entry"                the entry (whose hash is the signed leaf) is not an entry, or not
 *                            the one the document says: another account or seq than the
 *                            receipt, not the stated grade, not the stated head;
 *     "map head"             a period statement's account map head (crypto/map_head.py) is
 *                            missing, malformed, of another log, not signed by the log key of
 *                            its size, or older than the statement's checkpoint;
 *     "map proof"            the map proof of the statement's account is missing, malformed
 *                            or does not lead to the map head's root;
 *     "current"              the map shows another head (or none) as the account's newest:
 *                            the statement is stale.
 *   The first failure is reported; the checks run in this order (format checks throughout):
 *     receipt:    leaf hash, origin (its `log`), receipt signature, entry, inclusion (none
 *                 yet?), checkpoint signature, origin, inclusion, consistency;
 *     statements: statement signature, statement (its text), checkpoint signature, origin,
 *                 statement (same checkpoint), leaf hash, inclusion, entry, then for a
 *                 period statement map head, consistency (to the map head's checkpoint if
 *                 newer), map proof (each proof the answer holds), current; then
 *                 consistency (the statement's checkpoint, then the map head's);
 *     tlog-proof: leaf hash (extra data against options.entry/leafHash), checkpoint
 *                 signature, origin, inclusion, entry, consistency;
 *     checkpoint: checkpoint signature, origin, consistency.
 *   Consistency comes last since it may fetch a proof. verifyDocument never throws for bad
 *   input; it rejects only if the environment lacks WebCrypto SHA-256 or Ed25519 (an
 *   EnvironmentError saying so: crypto.subtle exists only in a secure context).
 *
 * Sizes and indexes: tree arithmetic is done on BigInt (the Merkle helpers take number or
 * bigint, up to 2^64-1). Documents with a tree size or index beyond 2^53-1 are refused with
 * "format" rather than reported as floats, so every number in a result is exact.
 *
 * rememberCheckpoint(storage, origin, checkpoint) / lastCheckpoint(storage, origin) keep the
 * newest verified checkpoint per origin in a localStorage-like object (getItem, setItem):
 *   const last = lastCheckpoint(localStorage, origin);
 *   const result = await verifyDocument(text, {logKey, origin, lastCheckpoint: last, ...});
 *   if (result.ok) rememberCheckpoint(localStorage, origin, result.checkpoint);
 *
 * Pure helpers, exported for tests and other pages (hashes are Uint8Array; arguments may
 * also be hex or base64 strings): leafHash(data), nodeHash(left, right),
 * verifyInclusion(index, size, leaf, proof, root) and verifyConsistency(first, second,
 * firstRoot, secondRoot, proof) (resolve, or reject with a VerifyError whose check is
 * "inclusion" / "consistency"), parseVkey(text), keyHash(name, publicKey),
 * openNote(note, keys) (rejects with reason "malformed", "invalid signature" or
 * "unverified"), parseCheckpoint(body), checkpointBody(checkpoint),
 * openCheckpoint(note, key, origin), verifyMapProof(root, key, proof) (resolves to the head
 * the map holds for the key, hex, or null), canonicalJson(value), decodeEntry(bytes),
 * toHex(bytes), and CHECKS, the list of check names.
 */

const RECEIPT_CONTEXT = "carbon-ledger/receipt/v1\n";
const GRADE_HEADER = "carbon-ledger/grade-statement/v1";
const PERIOD_HEADER = "carbon-ledger/period-statement/v1";
const BALANCE_HEADER = "carbon-ledger/statement/v1";
const SUMMARY_HEADER = "carbon-ledger/person-summary/v1";
const BUNDLE_FORMAT = "carbon-ledger/bundle/v1";
const TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1";
const STORAGE_PREFIX = "carbon-ledger/checkpoint/";

const HASH_SIZE = 32;
const SIGNATURE_SIZE = 64;
const KEY_SIZE = 32;
const ALG_ED25519 = 0x01;
const MAX_SIGNATURES = 100; // crypto/note.py MAX_SIGNATURES, as Go's note.Open
const MAX_INPUT = 1 << 20; // characters: every document this page checks is far smaller
const MAX_UINT64 = (1n << 64n) - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const SIGNATURE_PREFIX = "\u2014 "; // em dash, space (C2SP signed-note)

/** The stable names of the checks a failure names. */
export const CHECKS = Object.freeze([
  "format",
  "receipt signature",
  "checkpoint signature",
  "origin",
  "leaf hash",
  "inclusion",
  "consistency",
  "statement signature",
  "statement",
  "entry",
  "map head",
  "map proof",
  "current",
]);

// ASCII control characters other than newline: never allowed in a signed note.
const CONTROL = /[\x00-\x09\x0b-\x1f]/;
// Go's unicode.IsSpace: the characters with the Unicode White_Space property.
const SPACE = /[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const HEX8 = /^[0-9a-fA-F]{8}$/;
const HEX_HASH = /^[0-9a-fA-F]{64}$/;
// Go's base64.StdEncoding: the standard alphabet, padded to a multiple of four.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const INTEGER = /^(?:0|-?[1-9][0-9]*)$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const encoder = new TextEncoder();

/** A failed check: `check` is one of CHECKS, `detail` says what failed. */
export class VerifyError extends Error {
  constructor(check, detail) {
    super(`${check}: ${detail}`);
    this.name = "VerifyError";
    this.check = check;
    this.detail = detail;
  }
}

/** The environment cannot verify at all (no WebCrypto, or no Ed25519 in it). */
export class EnvironmentError extends Error {
  constructor(message) {
    super(message);
    this.name = "EnvironmentError";
  }
}

function fail(check, detail) {
  return new VerifyError(check, detail);
}

// ---------------------------------------------------------------------------------------
// Bytes, text, hex and base64

function subtle() {
  const found = globalThis.crypto && globalThis.crypto.subtle;
  if (!found) {
    throw new EnvironmentError(
      "WebCrypto (crypto.subtle) is not available: the page must be served over HTTPS or localhost",
    );
  }
  return found;
}

async function sha256(...parts) {
  return new Uint8Array(await subtle().digest("SHA-256", concat(...parts)));
}

function concat(...parts) {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function isWellFormed(text) {
  return typeof text.isWellFormed === "function" ? text.isWellFormed() : !LONE_SURROGATE.test(text);
}

function utf8(text) {
  return encoder.encode(text);
}

/** Bytes of strict UTF-8 (no byte order mark is stripped), or null. */
function decodeUtf8(bytes) {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** Lowercase hex of bytes. */
export function toHex(bytes) {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function fromHex(text) {
  if (typeof text !== "string" || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    return null;
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toBase64(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Padded standard base64, decoded as strictly as Go's base64.StdEncoding; null if not. */
function fromBase64(text) {
  if (typeof text !== "string" || !BASE64.test(text)) return null;
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** A 32-byte hash given as bytes, 64 hex digits or 44 base64 characters; null if not. */
function asHash(value) {
  if (value instanceof Uint8Array) return value.length === HASH_SIZE ? value : null;
  if (typeof value !== "string") return null;
  if (HEX_HASH.test(value)) return fromHex(value);
  const bytes = fromBase64(value);
  return bytes && bytes.length === HASH_SIZE ? bytes : null;
}

/** A tree size or index as a BigInt in 0..2^64-1 (number, bigint or decimal string). */
function asUint64(value, what, check) {
  let big;
  if (typeof value === "bigint") big = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) big = BigInt(value);
  else if (typeof value === "string" && DECIMAL.test(value) && value.length <= 20) {
    big = BigInt(value);
  } else throw fail(check, `${what} is not a non-negative integer`);
  if (big < 0n || big > MAX_UINT64) throw fail(check, `${what} ${big} is not a uint64`);
  return big;
}

/** A BigInt known to be at most 2^53-1, as the exact number every result holds. */
function safeNumber(big, what) {
  if (big > MAX_SAFE || big < -MAX_SAFE) {
    throw fail("format", `${what} ${big} is beyond 2^53-1, more than this page handles`);
  }
  return Number(big);
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isSafeCount(value) {
  return Number.isSafeInteger(value) && value >= 0;
}

// ---------------------------------------------------------------------------------------
// Keys (C2SP signed-note verifier keys, crypto/keys.py)

/** Refuse a key name Go refuses: empty, not UTF-8, holding a '+' or a Unicode space. */
function checkKeyName(name) {
  if (!name) return "key name is empty";
  if (!isWellFormed(name)) return "key name is not valid UTF-8";
  if (name.includes("+")) return `key name ${JSON.stringify(name)} contains '+'`;
  if (SPACE.test(name)) return `key name ${JSON.stringify(name)} contains a space`;
  return null;
}

/** The 32-bit key hash: the first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || key). */
export async function keyHash(name, publicKey) {
  const digest = await sha256(utf8(name), new Uint8Array([0x0a, ALG_ED25519]), publicKey);
  return new DataView(digest.buffer).getUint32(0, false);
}

async function importEd25519(publicKey) {
  try {
    return await subtle().importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (error) {
    if (error && error.name === "NotSupportedError") {
      throw new EnvironmentError("this browser's WebCrypto has no Ed25519");
    }
    throw fail("format", `the Ed25519 public key does not load: ${error && error.message}`);
  }
}

/**
 * Parse a verifier key `NAME+HHHHHHHH+BASE64(0x01 || 32-byte Ed25519 public key)` (C2SP
 * signed-note, Go's note.NewVerifier), checking the stated hash against the name and key.
 * Resolves to {name, keyHash, keyId, publicKey, text, cryptoKey}; rejects with a
 * VerifyError("format") if the key is malformed.
 */
export async function parseVkey(text) {
  if (typeof text !== "string") throw fail("format", "the log key is not text");
  const trimmed = text.trim();
  const first = trimmed.indexOf("+");
  const second = first < 0 ? -1 : trimmed.indexOf("+", first + 1);
  if (second < 0) throw fail("format", "malformed log key: not NAME+HHHHHHHH+BASE64");
  const name = trimmed.slice(0, first);
  const hash8 = trimmed.slice(first + 1, second);
  const bad = checkKeyName(name);
  if (bad) throw fail("format", `malformed log key: ${bad}`);
  if (!HEX8.test(hash8)) throw fail("format", "malformed log key: key hash is not 8 hex digits");
  const data = fromBase64(trimmed.slice(second + 1));
  if (!data || data.length === 0) throw fail("format", "malformed log key: key data is not base64");
  if (data[0] !== ALG_ED25519) {
    throw fail("format", `unknown log key algorithm 0x${data[0].toString(16).padStart(2, "0")}`);
  }
  if (data.length !== 1 + KEY_SIZE) {
    throw fail("format", `malformed log key: Ed25519 key is ${data.length - 1} bytes, not 32`);
  }
  const publicKey = data.slice(1);
  const stated = parseInt(hash8, 16);
  const expected = await keyHash(name, publicKey);
  if (stated !== expected) {
    throw fail("format", `log key hash ${hash8} does not match its name and key`);
  }
  const hex8 = expected.toString(16).padStart(8, "0");
  return Object.freeze({
    name,
    keyHash: expected,
    keyId: `${name}+${hex8}`,
    publicKey,
    text: `${name}+${hex8}+${toBase64(data)}`,
    cryptoKey: await importEd25519(publicKey),
  });
}

async function ed25519Verify(key, signature, message) {
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_SIZE) return false;
  try {
    return await subtle().verify({ name: "Ed25519" }, key.cryptoKey, signature, message);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Signed notes (C2SP signed-note, crypto/note.py, Go's golang.org/x/mod/sumdb/note)

/** A note error: `reason` is "malformed", "invalid signature" or "unverified". */
class NoteError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = "NoteError";
    this.reason = reason;
  }
}

function noteText(message) {
  const text = message instanceof Uint8Array ? decodeUtf8(message) : message;
  if (typeof text !== "string") throw new NoteError("malformed", "malformed note: not text");
  if (!isWellFormed(text)) throw new NoteError("malformed", "malformed note: not valid UTF-8");
  if (CONTROL.test(text)) {
    throw new NoteError(
      "malformed",
      "malformed note: contains an ASCII control character other than newline",
    );
  }
  return text;
}

/** The text and signature lines of a signed note, unverified (crypto/note.py split_note). */
function splitNote(message) {
  const text = noteText(message);
  const split = text.lastIndexOf("\n\n");
  if (split < 0) {
    throw new NoteError("malformed", "malformed note: no blank line before the signatures");
  }
  const body = text.slice(0, split + 1);
  const block = text.slice(split + 2);
  if (!block) throw new NoteError("malformed", "malformed note: no signature lines");
  if (!block.endsWith("\n")) {
    throw new NoteError(
      "malformed",
      "malformed note: last signature line does not end in a newline",
    );
  }
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) {
    throw new NoteError("malformed", `malformed note: more than ${MAX_SIGNATURES} signatures`);
  }
  return { text: body, signatures: lines.map((line, i) => parseSignature(i + 1, line)) };
}

function parseSignature(number, line) {
  if (!line.startsWith(SIGNATURE_PREFIX)) {
    throw new NoteError(
      "malformed",
      `malformed note: signature line ${number} does not start with an em dash and a space`,
    );
  }
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  const name = space < 0 ? rest : rest.slice(0, space);
  const bad = checkKeyName(name);
  if (bad) throw new NoteError("malformed", `malformed note: signature line ${number}: ${bad}`);
  const data = fromBase64(space < 0 ? "" : rest.slice(space + 1));
  if (!data) {
    throw new NoteError("malformed", `malformed note: signature line ${number} is not base64`);
  }
  if (data.length < 5) {
    throw new NoteError(
      "malformed",
      `malformed note: signature line ${number} is shorter than 5 bytes`,
    );
  }
  const hash = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, false);
  return {
    name,
    keyHash: hash,
    keyId: `${name}+${hash.toString(16).padStart(8, "0")}`,
    signature: data.slice(4),
  };
}

/**
 * Open a signed note as Go's note.Open does: parse it, verify every signature by a known key
 * (name and key hash both match), ignore (list as unverified) those by unknown keys, skip a
 * known key's repeated signature, refuse an invalid one, and require at least one verified.
 * `message` is a string or UTF-8 bytes; `verifiers` are keys from parseVkey.
 * Resolves to {text, verified, unverified}; rejects with a NoteError (`reason`: "malformed",
 * "invalid signature" or "unverified").
 */
export async function openNote(message, verifiers) {
  const { text, signatures } = splitNote(message);
  const known = new Map();
  for (const verifier of verifiers) {
    const id = `${verifier.name}\n${verifier.keyHash}`;
    known.set(id, [...(known.get(id) || []), verifier]);
  }
  const data = utf8(text);
  const verified = [];
  const unverified = [];
  const seen = new Set();
  for (const sig of signatures) {
    const id = `${sig.name}\n${sig.keyHash}`;
    const candidates = known.get(id);
    if (!candidates) {
      const repeat = unverified.some(
        (u) => u.keyId === sig.keyId && equalBytes(u.signature, sig.signature),
      );
      if (!repeat) unverified.push(sig);
      continue;
    }
    if (candidates.length > 1) throw new NoteError("malformed", `ambiguous key ${sig.keyId}`);
    if (seen.has(id)) continue;
    seen.add(id);
    if (!(await ed25519Verify(candidates[0], sig.signature, data))) {
      throw new NoteError("invalid signature", `invalid signature for key ${sig.keyId}`);
    }
    verified.push(sig);
  }
  if (verified.length === 0) {
    const unknown = unverified.map((sig) => sig.keyId).join(", ");
    throw new NoteError(
      "unverified",
      `note has no verifiable signatures (signed by unknown keys: ${unknown || "none"})`,
    );
  }
  return { text, verified, unverified };
}

// ---------------------------------------------------------------------------------------
// Checkpoints (C2SP tlog-checkpoint, crypto/checkpoint.py)

function checkLine(what, line) {
  if (!line) throw fail("format", `checkpoint ${what} is empty`);
  if (line.includes("\n") || CONTROL.test(line)) {
    throw fail("format", `checkpoint ${what} contains a control character`);
  }
  if (!isWellFormed(line)) throw fail("format", `checkpoint ${what} is not valid UTF-8`);
}

/**
 * Parse a checkpoint note text strictly (C2SP tlog-checkpoint): the origin line, the tree
 * size in decimal without leading zeros (a uint64), the base64 32-byte root hash, then any
 * non-empty extension lines, each ending in a newline. Returns {origin, size (BigInt),
 * rootHash (Uint8Array), extensions}; throws VerifyError("format") if malformed.
 */
export function parseCheckpoint(body) {
  if (typeof body !== "string" || !body.endsWith("\n")) {
    throw fail("format", "checkpoint does not end in a newline");
  }
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) {
    throw fail("format", "checkpoint needs an origin, a tree size and a root hash line");
  }
  const [origin, sizeText, rootText, ...extensions] = lines;
  checkLine("origin", origin);
  for (const line of extensions) checkLine("extension line", line);
  if (!DECIMAL.test(sizeText) || sizeText.length > 20) {
    throw fail(
      "format",
      `checkpoint tree size ${JSON.stringify(sizeText.slice(0, 40))} is not a canonical decimal`,
    );
  }
  const size = BigInt(sizeText);
  if (size > MAX_UINT64) throw fail("format", `checkpoint tree size ${size} is not a uint64`);
  const rootHash = fromBase64(rootText);
  if (!rootHash) throw fail("format", "checkpoint root hash is not base64");
  if (rootHash.length !== HASH_SIZE) {
    throw fail("format", `checkpoint root hash is ${rootHash.length} bytes, not 32`);
  }
  return { origin, size, rootHash, extensions };
}

/** The note text of a parsed checkpoint: `ORIGIN\nSIZE\nBASE64(root)\n` and extensions. */
export function checkpointBody(checkpoint) {
  const lines = [checkpoint.origin, String(checkpoint.size), toBase64(checkpoint.rootHash)];
  return [...lines, ...checkpoint.extensions].join("\n") + "\n";
}

/**
 * A checkpoint signed by the log key, of origin `origin` (crypto/checkpoint.py
 * open_checkpoint; cosignatures by witnesses are other keys and are ignored here).
 */
export async function openCheckpoint(note, logKey, origin) {
  let opened;
  try {
    opened = await openNote(note, [logKey]);
  } catch (error) {
    if (error instanceof NoteError && error.reason === "malformed") {
      throw fail("format", `checkpoint note: ${error.message}`);
    }
    if (error instanceof NoteError) {
      throw fail(
        "checkpoint signature",
        `not signed by the log key ${logKey.keyId}: ${error.message}`,
      );
    }
    throw error;
  }
  const checkpoint = parseCheckpoint(opened.text);
  if (origin !== undefined && origin !== null && checkpoint.origin !== origin) {
    throw fail(
      "origin",
      `checkpoint origin ${JSON.stringify(checkpoint.origin)} is not ${JSON.stringify(origin)}`,
    );
  }
  return checkpoint;
}

// ---------------------------------------------------------------------------------------
// Merkle trees (RFC 6962 hashes; RFC 9162 section 2.1 proofs; crypto/merkle.py)

function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (typeof data === "string") return utf8(data);
  throw new TypeError("data must be a Uint8Array, an ArrayBuffer or a string");
}

/** The RFC 6962 leaf hash SHA-256(0x00 || data) (data: bytes, or a string as UTF-8). */
export async function leafHash(data) {
  return sha256(new Uint8Array([0x00]), asBytes(data));
}

/** The RFC 6962 interior node hash SHA-256(0x01 || left || right). */
export async function nodeHash(left, right) {
  return sha256(new Uint8Array([0x01]), left, right);
}

function hashArgument(value, what, check) {
  const hash = asHash(value);
  if (!hash) throw fail(check, `${what} is not a 32-byte hash`);
  return hash;
}

function hashList(values, what, check) {
  if (!Array.isArray(values)) throw fail(check, `${what} is not a list of hashes`);
  return values.map((value, i) => hashArgument(value, `${what} hash ${i}`, check));
}

/** Right-shift fn and sn equally until fn is odd or zero (RFC 9162 2.1.3.2 step 3b). */
function shiftToOdd(fn, sn) {
  if (fn === 0n) return [fn, sn];
  while ((fn & 1n) === 0n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  return [fn, sn];
}

/**
 * The fn/sn walk of RFC 9162 sections 2.1.3.2 and 2.1.4.2 over a path of `length` hashes:
 * true where the element is a left sibling. Done before any hashing, so a proof of the
 * wrong length is refused at once (sn reaches 0 within 64 steps).
 */
function pathSides(fn, sn, length, check) {
  const sides = [];
  for (let i = 0; i < length; i++) {
    if (sn === 0n) throw fail(check, "proof has more hashes than the tree sizes allow");
    const left = (fn & 1n) === 1n || fn === sn;
    if (left) [fn, sn] = shiftToOdd(fn, sn);
    sides.push(left);
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw fail(check, "proof has fewer hashes than the tree sizes require");
  return sides;
}

/**
 * Verify an inclusion proof (RFC 9162 section 2.1.3.2): `leaf` is entry `index` of the tree
 * of `size` entries whose root is `root`. index and size: number or bigint; hashes: bytes,
 * hex or base64. Resolves if it verifies; rejects with VerifyError("inclusion") if not.
 */
export async function verifyInclusion(index, size, leaf, proof, root) {
  const check = "inclusion";
  const i = asUint64(index, "leaf index", check);
  const n = asUint64(size, "tree size", check);
  const leafBytes = hashArgument(leaf, "leaf hash", check);
  const rootBytes = hashArgument(root, "root hash", check);
  const path = hashList(proof, "inclusion proof", check);
  // step 1: the index must be in the tree
  if (i >= n) throw fail(check, `leaf index ${i} is not in a tree of size ${n}`);
  // steps 2-3: fn = index, sn = size - 1, r = leaf; walk the path
  const sides = pathSides(i, n - 1n, path.length, check);
  let r = leafBytes;
  for (let k = 0; k < path.length; k++) {
    r = sides[k] ? await nodeHash(path[k], r) : await nodeHash(r, path[k]);
  }
  // step 4: sn is 0 (checked by the walk) and r is the root
  if (!equalBytes(r, rootBytes)) {
    throw fail(check, `the proof of leaf ${i} does not lead to the root of the tree of size ${n}`);
  }
}

const EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/**
 * Verify a consistency proof (RFC 9162 section 2.1.4.2): the tree (second, secondRoot)
 * extends the tree (first, firstRoot). As crypto/merkle.py: from size 0 the proof is empty
 * and firstRoot is SHA-256 of nothing (every tree extends the empty tree); between equal
 * sizes the proof is empty and the roots are equal. Resolves if it verifies; rejects with
 * VerifyError("consistency") if not.
 */
export async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  const check = "consistency";
  const m = asUint64(first, "first size", check);
  const n = asUint64(second, "second size", check);
  const firstBytes = hashArgument(firstRoot, "first root", check);
  const secondBytes = hashArgument(secondRoot, "second root", check);
  const hashes = hashList(proof, "consistency proof", check);
  if (m > n) throw fail(check, `no consistency proof from size ${m} to size ${n}`);
  if (m === 0n || m === n) {
    if (hashes.length) throw fail(check, `the proof from size ${m} to ${n} must be empty`);
    if (m === 0n && toHex(firstBytes) !== EMPTY_ROOT_HEX) {
      throw fail(check, "the first root is not the root of the empty tree");
    }
    if (m === n && !equalBytes(firstBytes, secondBytes)) {
      throw fail(check, `two different roots for the tree of size ${m}`);
    }
    return;
  }
  // step 1: an empty proof proves nothing
  if (!hashes.length) throw fail(check, `the proof from size ${m} to ${n} is empty`);
  // step 2: if first is an exact power of 2, prepend first_hash to the path
  const path = (m & (m - 1n)) === 0n ? [firstBytes, ...hashes] : hashes;
  // steps 3-4: fn = first - 1, sn = second - 1, shifted right while fn is odd
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  // steps 5-6: fr = sr = path[0]; walk the rest
  const sides = pathSides(fn, sn, path.length - 1, check);
  let fr = path[0];
  let sr = path[0];
  for (let k = 1; k < path.length; k++) {
    const c = path[k];
    if (sides[k - 1]) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
    } else {
      sr = await nodeHash(sr, c);
    }
  }
  // step 7: fr is first_hash, sr is second_hash (sn is 0: checked by the walk)
  if (!equalBytes(fr, firstBytes)) {
    throw fail(check, `the proof does not lead to the root of size ${m}`);
  }
  if (!equalBytes(sr, secondBytes)) {
    throw fail(check, `the proof does not lead to the root of size ${n}`);
  }
}

// ---------------------------------------------------------------------------------------
// The account map (crypto/account_map.py, crypto/map_head.py)

const MAP_HEADER = "carbon-ledger/account-map/v1";
const MAP_KEY_BITS = 256;

function mapBit(key, depth) {
  return (key[depth >> 3] >> (7 - (depth & 7))) & 1;
}

/**
 * Verify an account map proof (crypto/account_map.py verify_map_proof): `proof` is its JSON
 * form {leaf: {key, head} | null, siblings: [hex, ...]} (siblings from the root's children
 * down), `root` and `key` (SHA-256 of the account id) are 32-byte hashes. Resolves to the
 * head (hex) the map with `root` holds for `key`, or null if it holds none; rejects with
 * VerifyError("map proof") if the proof is malformed or does not lead to the root.
 */
export async function verifyMapProof(root, key, proof) {
  const check = "map proof";
  const rootBytes = hashArgument(root, "map root", check);
  const keyBytes = hashArgument(key, "map key", check);
  if (!isObject(proof) || !Array.isArray(proof.siblings)) {
    throw fail(check, "a map proof is an object with `leaf` and a `siblings` list");
  }
  if (proof.siblings.length > MAP_KEY_BITS) {
    throw fail(check, `a map proof has at most ${MAP_KEY_BITS} siblings`);
  }
  const siblings = proof.siblings.map((s, i) => hexHash(s, `sibling ${i}`, check));
  const depth = siblings.length;
  let leaf = null;
  let hash = new Uint8Array(HASH_SIZE); // an empty subtree
  if (proof.leaf !== null && proof.leaf !== undefined) {
    if (!isObject(proof.leaf)) throw fail(check, "leaf is not an object");
    leaf = {
      key: hexHash(proof.leaf.key, "leaf.key", check),
      head: hexHash(proof.leaf.head, "leaf.head", check),
    };
    for (let d = 0; d < depth; d++) {
      if (mapBit(leaf.key, d) !== mapBit(keyBytes, d)) {
        throw fail(check, "the proof's leaf is not on the key's path");
      }
    }
    hash = await leafHash(concat(leaf.key, leaf.head)); // SHA-256(0x00 || key || head)
  }
  for (let level = depth - 1; level >= 0; level--) {
    hash = mapBit(keyBytes, level)
      ? await nodeHash(siblings[level], hash)
      : await nodeHash(hash, siblings[level]);
  }
  if (!equalBytes(hash, rootBytes)) throw fail(check, "the proof does not lead to the map root");
  return leaf !== null && equalBytes(leaf.key, keyBytes) ? toHex(leaf.head) : null;
}

function hexHash(value, what, check) {
  if (typeof value !== "string" || !HEX_HASH.test(value)) {
    throw fail(check, `${what} is not 64 hex digits`);
  }
  return fromHex(value);
}

/** A map head note's text parsed strictly (crypto/map_head.py parse_map_head). */
function parseMapHead(body) {
  const at = body.indexOf("\n");
  const rootEnd = body.indexOf("\n", at + 1);
  const rootLine = at < 0 || rootEnd < 0 ? "" : body.slice(at + 1, rootEnd);
  if (body.slice(0, at) !== MAP_HEADER || !rootLine.startsWith("root ")) {
    throw fail("map head", `not a ${MAP_HEADER} note`);
  }
  const root = fromBase64(rootLine.slice(5));
  if (!root || root.length !== HASH_SIZE) throw fail("map head", "the map root is not 32 bytes");
  let checkpoint;
  try {
    checkpoint = parseCheckpoint(body.slice(rootEnd + 1));
  } catch (error) {
    if (error instanceof VerifyError) throw fail("map head", `its checkpoint: ${error.detail}`);
    throw error;
  }
  if (`${MAP_HEADER}\nroot ${toBase64(root)}\n${checkpointBody(checkpoint)}` !== body) {
    throw fail("map head", "the map head is not in canonical form");
  }
  return { root, checkpoint };
}

/**
 * A period statement's map head: signed by the log key of its size, of this log, for the
 * statement's checkpoint or a later one that the answer's `consistency` proves extends it.
 */
async function openMapHead(answer, checkpoint, context) {
  const map = answer.map;
  if (!isObject(map) || typeof map.head !== "string" || !isObject(map.proofs)) {
    throw fail("map head", "the answer has no account map head and proofs (`map`)");
  }
  let head;
  try {
    head = parseMapHead(splitNote(map.head).text);
    await openNote(map.head, [keyAt(context, head.checkpoint.size)]);
  } catch (error) {
    if (error instanceof NoteError) throw fail("map head", `map head note: ${error.message}`);
    throw error;
  }
  const signed = head.checkpoint;
  safeNumber(signed.size, "map head tree size");
  if (signed.origin !== context.origin) {
    const origin = JSON.stringify(signed.origin);
    throw fail("map head", `the map head's origin ${origin} is another log`);
  }
  if (signed.size === checkpoint.size && equalBytes(signed.rootHash, checkpoint.rootHash)) {
    return { ...head, proofs: map.proofs };
  }
  if (signed.size <= checkpoint.size) {
    const past = `is not past the statement's ${checkpoint.size}`;
    throw fail("map head", `the map head's tree size ${signed.size} ${past}`);
  }
  const proofs = Array.isArray(answer.consistency) ? answer.consistency : [];
  const proof = proofs.find(
    (p) =>
      isObject(p) &&
      Number.isSafeInteger(p.first) &&
      Number.isSafeInteger(p.second) &&
      BigInt(p.first) === checkpoint.size &&
      BigInt(p.second) === signed.size,
  );
  if (!proof) {
    throw fail(
      "consistency",
      `no proof that the map head's size ${signed.size} extends ${checkpoint.size}`,
    );
  }
  const [first, second] = [checkpoint, signed];
  await verifyConsistency(first.size, second.size, first.rootHash, second.rootHash, proof.hashes);
  return { ...head, proofs: map.proofs };
}

/**
 * The checkpoint of the map head as of which the account map shows `head` is `account`'s
 * newest entry. Every proof the answer holds must verify (as the Python client checks).
 */
async function proveCurrent(answer, checkpoint, context, account, head) {
  const mapHead = await openMapHead(answer, checkpoint, context);
  if (!Object.hasOwn(mapHead.proofs, account)) {
    throw fail("map proof", `the answer has no map proof of ${account}`);
  }
  let shown = null;
  for (const [proven, proof] of Object.entries(mapHead.proofs)) {
    const key = await sha256(utf8(proven));
    const held = await verifyMapProof(mapHead.root, key, proof);
    if (proven === account) shown = held;
  }
  if (shown !== head) {
    throw fail(
      "current",
      `the account map of tree size ${mapHead.checkpoint.size} shows ${shown ?? "no entry"} ` +
        `as ${account}'s newest, not the stated head ${head}`,
    );
  }
  return mapHead.checkpoint;
}

// ---------------------------------------------------------------------------------------
// Canonical JSON (RFC 8785 JCS restricted as crypto/canonical.py) and entries

/**
 * The canonical JSON text of a value: objects with members sorted by UTF-16 code units,
 * strings escaped as JSON.stringify does (RFC 8785 section 3.2.2.2 takes its escaping from
 * ECMAScript), integers within +-(2^53-1) only; floats and lone surrogates are refused.
 */
export function canonicalJson(value) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "string") {
    if (!isWellFormed(value)) throw fail("format", "a string holds a lone surrogate");
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw fail("format", `${value} is not a safe integer`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort(); // default sort: UTF-16 code unit order
    return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  throw fail("format", `${typeof value} is not a JSON value`);
}

const ENTRY_FIELDS = [
  "account",
  "effect",
  "prev",
  "recorded_at",
  "seq",
  "signature",
  "submission",
  "v",
];
const SUBMISSION_FIELDS = ["account", "at", "data", "id", "key", "type"];

function sameKeys(object, fields) {
  const keys = Object.keys(object).sort();
  return keys.length === fields.length && keys.every((k, i) => k === fields[i]);
}

/**
 * The entry in a leaf's bytes (crypto/records.py Entry: canonical JSON of {v, account, seq,
 * prev, submission, signature, effect, recorded_at}); VerifyError("entry") if it is not one.
 */
export function decodeEntry(bytes) {
  const text = decodeUtf8(bytes);
  let entry;
  try {
    entry = text === null ? undefined : JSON.parse(text);
  } catch {
    entry = undefined;
  }
  const submission = isObject(entry) ? entry.submission : undefined;
  const ok =
    isObject(entry) &&
    sameKeys(entry, ENTRY_FIELDS) &&
    Number.isSafeInteger(entry.v) &&
    typeof entry.account === "string" &&
    isSafeCount(entry.seq) &&
    typeof entry.prev === "string" &&
    typeof entry.signature === "string" &&
    isObject(entry.effect) &&
    typeof entry.recorded_at === "string" &&
    isObject(submission) &&
    sameKeys(submission, SUBMISSION_FIELDS) &&
    isObject(submission.data) &&
    ["account", "type", "key", "at", "id"].every((k) => typeof submission[k] === "string");
  if (!ok) throw fail("entry", "the leaf's bytes are not a Carbon Ledger entry");
  return entry;
}

// ---------------------------------------------------------------------------------------
// Ledger-signed statements (crypto/grade_statement.py, crypto/period_statement.py)

function fieldValue(line, name) {
  const space = line.indexOf(" ");
  const key = space < 0 ? line : line.slice(0, space);
  const value = space < 0 ? "" : line.slice(space + 1);
  if (key !== name || !value) {
    throw fail("statement", `expected \`${name} ...\`, found ${JSON.stringify(line.slice(0, 80))}`);
  }
  return value;
}

function integerField(text, name) {
  if (!INTEGER.test(text) || text.length > 40) {
    throw fail("statement", `${name} ${JSON.stringify(text.slice(0, 40))} is not an integer`);
  }
  return BigInt(text);
}

function embeddedCheckpoint(lines) {
  try {
    return parseCheckpoint(lines.join("\n"));
  } catch (error) {
    if (error instanceof VerifyError) throw fail("statement", `its checkpoint: ${error.detail}`);
    throw error;
  }
}

/** A grade statement's text parsed strictly (it must render back to the same text). */
function parseGradeStatement(body) {
  const lines = body.split("\n");
  if (lines.length < 10 || lines[0] !== GRADE_HEADER) {
    throw fail("statement", `not a ${GRADE_HEADER} note`);
  }
  const names = ["account", "period", "grade", "method", "leaf", "index"];
  const [account, period, grade, method, leaf, indexText] = names.map((name, i) =>
    fieldValue(lines[i + 1], name),
  );
  const index = integerField(indexText, "index");
  const checkpoint = embeddedCheckpoint(lines.slice(7));
  const rendered =
    `${GRADE_HEADER}\naccount ${account}\nperiod ${period}\ngrade ${grade}\n` +
    `method ${method}\nleaf ${leaf}\nindex ${index}\n${checkpointBody(checkpoint)}`;
  if (rendered !== body) throw fail("statement", "grade statement text is not in canonical form");
  return { account, period, grade, method, leaf, index, checkpoint };
}

const PERIOD_NAMES = [
  "account",
  "kind",
  "period",
  "reduction_g",
  "emission_g",
  "retired_g",
  "seq",
  "head",
];

/** A period statement's text parsed strictly (it must render back to the same text). */
function parsePeriodStatement(body) {
  const lines = body.split("\n");
  if (lines.length < PERIOD_NAMES.length + 4 || lines[0] !== PERIOD_HEADER) {
    throw fail("statement", `not a ${PERIOD_HEADER} note`);
  }
  const values = PERIOD_NAMES.map((name, i) => fieldValue(lines[i + 1], name));
  const stated = {};
  PERIOD_NAMES.forEach((name, i) => {
    const integer = ["reduction_g", "emission_g", "retired_g", "seq"].includes(name);
    stated[name] = integer ? integerField(values[i], name) : values[i];
  });
  stated.checkpoint = embeddedCheckpoint(lines.slice(PERIOD_NAMES.length + 1));
  const fields = PERIOD_NAMES.map((name) => `${name} ${stated[name]}\n`).join("");
  const rendered = `${PERIOD_HEADER}\n${fields}${checkpointBody(stated.checkpoint)}`;
  if (rendered !== body) throw fail("statement", "period statement text is not in canonical form");
  return stated;
}

/** An exact figure: a number within 2^53-1, else its decimal string. */
function figure(big) {
  return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : String(big);
}

// ---------------------------------------------------------------------------------------
// Documents

function requireFields(object, fields, what) {
  for (const [name, type] of fields) {
    const value = object[name];
    const ok =
      type === "count"
        ? isSafeCount(value)
        : type === "array"
          ? Array.isArray(value) && value.every((h) => typeof h === "string")
          : typeof value === type;
    if (!ok) {
      const wanted =
        type === "count"
          ? "a non-negative integer below 2^53"
          : type === "array"
            ? "a list of strings"
            : `a ${type}`;
      throw fail("format", `${what}: \`${name}\` is not ${wanted}`);
    }
  }
}

function base64Field(value, what) {
  const bytes = fromBase64(value);
  if (!bytes) throw fail("format", `${what} is not base64`);
  return bytes;
}

/** Hex proof hashes from a document: a hash that is not 32 bytes of hex fails `check`. */
function hexHashes(hashes, check, what) {
  return hashes.map((h, i) => hexHash(h, `${what} hash ${i}`, check));
}

async function proveIncluded(index, leaf, proof, checkpoint) {
  await verifyInclusion(index, checkpoint.size, leaf, proof, checkpoint.rootHash);
}

/**
 * The log key that signs checkpoints of tree size `size`: with a key history (rotations of
 * the ledger key, crypto/key_history.py), the last key taken over at an index below `size`.
 */
function keyAt(context, size) {
  let found = context.keys[0].key;
  for (const { from, key } of context.keys) if (from < BigInt(size)) found = key;
  return found;
}

/** A checkpoint signed by the log key of its size (the only key, without a history). */
async function openLogCheckpoint(note, context) {
  let size = null;
  try {
    size = parseCheckpoint(splitNote(note).text).size;
  } catch {
    // malformed: openCheckpoint says how, with any key
  }
  const key = size === null ? context.key : keyAt(context, size);
  return openCheckpoint(note, key, context.origin);
}

async function verifyReceipt(receipt, context) {
  const { key, origin } = context;
  requireFields(
    receipt,
    [
      ["account", "string"],
      ["seq", "count"],
      ["leaf_hash", "string"],
      ["entry", "string"],
      ["log", "string"],
      ["signature", "string"],
    ],
    "receipt",
  );
  const entryBytes = base64Field(receipt.entry, "the receipt's entry");
  const leaf = await leafHash(entryBytes);
  if (toHex(leaf) !== receipt.leaf_hash) {
    throw fail(
      "leaf hash",
      `the entry's leaf hash is ${toHex(leaf)}, ` +
        `not the receipt's ${receipt.leaf_hash.slice(0, 64)}`,
    );
  }
  if (receipt.log !== origin) {
    throw fail(
      "origin",
      `the receipt is for log ${JSON.stringify(receipt.log)}, not ${JSON.stringify(origin)}`,
    );
  }
  // crypto/records.py receipt_message: the context line, then the canonical JSON promise
  const promise = {
    account: receipt.account,
    seq: receipt.seq,
    leaf_hash: receipt.leaf_hash,
    log: receipt.log,
  };
  const message = utf8(RECEIPT_CONTEXT + canonicalJson(promise));
  const signature = fromBase64(receipt.signature);
  // a receipt is signed by the key of its moment: any of the history (the newest, without)
  let signed = false;
  for (const { key: candidate } of context.keys) {
    signed = signed || (Boolean(signature) && (await ed25519Verify(candidate, signature, message)));
  }
  if (!signed) {
    throw fail("receipt signature", `the receipt is not signed by the log key ${key.keyId}`);
  }
  const entry = decodeEntry(entryBytes);
  if (entry.account !== receipt.account || entry.seq !== receipt.seq) {
    throw fail(
      "entry",
      `the entry is ${entry.account} #${entry.seq}, ` +
        `not the receipt's ${receipt.account} #${receipt.seq}`,
    );
  }
  if (receipt.inclusion === undefined || receipt.inclusion === null) {
    throw fail(
      "inclusion",
      "the receipt has no inclusion proof: the entry is promised, not yet shown in a " +
        "checkpoint (POST /v1/submissions?wait=true answers with one)",
    );
  }
  requireFields(
    receipt,
    [
      ["index", "count"],
      ["checkpoint", "string"],
      ["inclusion", "array"],
    ],
    "receipt",
  );
  const checkpoint = await openLogCheckpoint(receipt.checkpoint, context);
  safeNumber(checkpoint.size, "checkpoint tree size");
  await proveIncluded(
    receipt.index,
    leaf,
    hexHashes(receipt.inclusion, "inclusion", "inclusion proof"),
    checkpoint,
  );
  return {
    kind: "receipt",
    checkpoint,
    facts: {
      account: receipt.account,
      seq: receipt.seq,
      leafHash: toHex(leaf),
      index: receipt.index,
      log: receipt.log,
      type: entry.submission.type,
      recordedAt: entry.recorded_at,
      checkpointSize: Number(checkpoint.size),
      entry,
    },
  };
}

async function openStatement(note, key) {
  try {
    return (await openNote(note, [key])).text;
  } catch (error) {
    if (error instanceof NoteError && error.reason === "malformed") {
      throw fail("format", `statement note: ${error.message}`);
    }
    if (error instanceof NoteError) {
      throw fail("statement signature", `not signed by the log key ${key.keyId}: ${error.message}`);
    }
    throw error;
  }
}

async function verifyStatement(answer, context) {
  if (answer.format === BUNDLE_FORMAT) {
    throw fail(
      "format",
      "a bundle (history=true) is verified offline with `carbon-ledger verify`, not in the browser",
    );
  }
  requireFields(
    answer,
    [
      ["statement", "string"],
      ["checkpoint", "string"],
      ["entry", "string"],
      ["inclusion", "array"],
    ],
    "statement answer",
  );
  let header;
  try {
    header = splitNote(answer.statement).text.split("\n", 1)[0];
  } catch (error) {
    if (error instanceof NoteError) throw fail("format", `statement note: ${error.message}`);
    throw error;
  }
  if (header !== GRADE_HEADER && header !== PERIOD_HEADER) {
    const known = header === BALANCE_HEADER || header === SUMMARY_HEADER;
    throw fail(
      "format",
      known
        ? `${header} notes come in bundles: verify them with \`carbon-ledger verify\``
        : `not a statement this page knows (${JSON.stringify(header.slice(0, 60))})`,
    );
  }
  const grade = header === GRADE_HEADER;
  if (!grade) requireFields(answer, [["index", "count"]], "period statement answer");
  const checkpoint = await openLogCheckpoint(answer.checkpoint, context);
  const text = await openStatement(answer.statement, keyAt(context, checkpoint.size));
  const stated = grade ? parseGradeStatement(text) : parsePeriodStatement(text);
  safeNumber(checkpoint.size, "checkpoint tree size");
  if (checkpointBody(stated.checkpoint) !== checkpointBody(checkpoint)) {
    throw fail("statement", "the statement's checkpoint is not the checkpoint sent with it");
  }
  const entryBytes = base64Field(answer.entry, "the statement's entry");
  const leaf = toHex(await leafHash(entryBytes));
  const signedLeaf = grade ? stated.leaf : stated.head;
  if (leaf !== signedLeaf) {
    throw fail(
      "leaf hash",
      `the entry's leaf hash is ${leaf}, not the statement's ${signedLeaf.slice(0, 64)}`,
    );
  }
  const index = grade ? safeNumber(stated.index, "stated index") : answer.index;
  if (index < 0) throw fail("inclusion", `leaf index ${index} is negative`);
  await proveIncluded(
    index,
    fromHex(leaf),
    hexHashes(answer.inclusion, "inclusion", "inclusion proof"),
    checkpoint,
  );
  const entry = decodeEntry(entryBytes);
  const base = {
    account: stated.account,
    leafHash: leaf,
    index,
    checkpointSize: Number(checkpoint.size),
    entry,
  };
  if (grade) {
    const data = entry.submission.data;
    const held =
      entry.account === stated.account &&
      entry.submission.type === "GradeAssigned" &&
      data.period === stated.period &&
      data.grade === stated.grade &&
      data.method === stated.method;
    if (!held) {
      throw fail(
        "entry",
        `the entry is not ${stated.account}'s ${stated.grade} grade for ${stated.period}`,
      );
    }
    const facts = {
      ...base,
      seq: entry.seq,
      period: stated.period,
      grade: stated.grade,
      method: stated.method,
      data,
    };
    return { kind: "grade-statement", checkpoint, facts };
  }
  if (entry.account !== stated.account || BigInt(entry.seq) !== stated.seq) {
    throw fail(
      "entry",
      `the entry is ${entry.account} #${entry.seq}, ` +
        `not the stated head ${stated.account} #${stated.seq}`,
    );
  }
  const { account, head } = stated;
  const mapCheckpoint = await proveCurrent(answer, checkpoint, context, account, head);
  const facts = {
    ...base,
    seq: entry.seq,
    head: stated.head,
    currentAsOf: Number(mapCheckpoint.size),
    accountKind: stated.kind,
    period: stated.period,
    reduction_g: figure(stated.reduction_g),
    emission_g: figure(stated.emission_g),
    retired_g: figure(stated.retired_g),
  };
  return { kind: "period-statement", checkpoint, facts, mapCheckpoint };
}

/** Parse a c2sp.org/tlog-proof@v1 file: {extra, index (BigInt), proof, note}. */
function parseTlogProof(text) {
  const split = text.indexOf("\n\n");
  if (split < 0) throw fail("format", "tlog-proof: no blank line before the checkpoint");
  const lines = text.slice(0, split).split("\n");
  const note = text.slice(split + 2);
  if (lines[0] !== TLOG_PROOF_HEADER) {
    throw fail("format", `tlog-proof: the first line is not ${TLOG_PROOF_HEADER}`);
  }
  let at = 1;
  let extra = null;
  if (lines[at] !== undefined && lines[at].startsWith("extra ")) {
    extra = fromBase64(lines[at].slice("extra ".length));
    if (!extra || extra.length === 0) {
      throw fail("format", "tlog-proof: the extra data is not base64");
    }
    at += 1;
  }
  const indexLine = lines[at] || "";
  const indexText = indexLine.startsWith("index ") ? indexLine.slice("index ".length) : null;
  if (indexText === null || !DECIMAL.test(indexText) || indexText.length > 20) {
    throw fail("format", "tlog-proof: no `index N` line (a decimal without leading zeros)");
  }
  const index = BigInt(indexText);
  if (index > MAX_UINT64) throw fail("format", `tlog-proof: index ${index} is not a uint64`);
  const proof = lines.slice(at + 1).map((line, i) => {
    const hash = fromBase64(line);
    if (!hash || hash.length !== HASH_SIZE) {
      throw fail(
        "format",
        `tlog-proof: inclusion proof line ${i + 1} is not a base64 SHA-256 hash`,
      );
    }
    return hash;
  });
  return { extra, index, proof, note };
}

async function verifyTlogProof(text, context, options) {
  const parsed = parseTlogProof(text);
  let entryBytes = parsed.extra;
  if (options.entry !== undefined && options.entry !== null) {
    const given = options.entry instanceof Uint8Array ? options.entry : fromBase64(options.entry);
    if (!given) throw fail("format", "options.entry is neither bytes nor base64");
    if (entryBytes && !equalBytes(given, entryBytes)) {
      throw fail("leaf hash", "the proof's extra data is not the entry given");
    }
    entryBytes = given;
  }
  let leaf = entryBytes ? await leafHash(entryBytes) : null;
  if (options.leafHash !== undefined && options.leafHash !== null) {
    const given = asHash(options.leafHash);
    if (!given) throw fail("format", "options.leafHash is not a 32-byte hash");
    if (leaf && !equalBytes(leaf, given)) {
      throw fail("leaf hash", `the entry's leaf hash is ${toHex(leaf)}, not ${toHex(given)}`);
    }
    leaf = given;
  }
  if (!leaf) {
    throw fail(
      "format",
      "a tlog-proof names no entry: give options.leafHash or options.entry, " +
        "or a proof whose extra data is the entry",
    );
  }
  const checkpoint = await openLogCheckpoint(parsed.note, context);
  safeNumber(checkpoint.size, "checkpoint tree size");
  const index = safeNumber(parsed.index, "tlog-proof index");
  await proveIncluded(index, leaf, parsed.proof, checkpoint);
  const facts = { leafHash: toHex(leaf), index, checkpointSize: Number(checkpoint.size) };
  if (entryBytes) {
    const entry = decodeEntry(entryBytes);
    Object.assign(facts, {
      account: entry.account,
      seq: entry.seq,
      type: entry.submission.type,
      recordedAt: entry.recorded_at,
      entry,
    });
  }
  return { kind: "tlog-proof", checkpoint, facts };
}

async function verifyCheckpointNote(text, context) {
  const checkpoint = await openLogCheckpoint(text, context);
  safeNumber(checkpoint.size, "checkpoint tree size");
  const facts = {
    origin: checkpoint.origin,
    checkpointSize: Number(checkpoint.size),
    rootHash: toHex(checkpoint.rootHash),
  };
  return { kind: "checkpoint", checkpoint, facts };
}

/** A remembered checkpoint {size, rootHash} as {size: BigInt, rootHash: bytes}. */
function rememberedCheckpoint(value, what) {
  if (!isObject(value)) throw fail("format", `${what} is not {size, rootHash}`);
  const size = asUint64(value.size, `${what}.size`, "format");
  const rootHash = asHash(value.rootHash);
  if (!rootHash) throw fail("format", `${what}.rootHash is not a 32-byte hash (hex or base64)`);
  return { size, rootHash };
}

async function fetchedProof(fetchConsistency, first, second) {
  let answer;
  try {
    answer = await fetchConsistency(Number(first), Number(second));
  } catch (error) {
    throw fail(
      "consistency",
      `could not fetch the proof from size ${first} to ${second}: ` +
        (error && error.message ? error.message : String(error)),
    );
  }
  const hashes = isObject(answer) ? answer.hashes : answer;
  if (!Array.isArray(hashes) || !hashes.every((h) => typeof h === "string")) {
    throw fail(
      "consistency",
      `the proof from size ${first} to ${second} is not a list of hex hashes`,
    );
  }
  return hexHashes(hashes, "consistency", "consistency proof");
}

/**
 * Check the document's checkpoint against the remembered one, as client/ledger_client.py
 * _observe does: smaller is a rollback, the same size needs the same root, larger needs a
 * consistency proof (RFC 9162 section 2.1.4). Returns the remembered size, or null.
 */
async function checkConsistency(checkpoint, options) {
  if (options.lastCheckpoint === undefined || options.lastCheckpoint === null) return null;
  const last = rememberedCheckpoint(options.lastCheckpoint, "options.lastCheckpoint");
  safeNumber(last.size, "options.lastCheckpoint.size");
  if (checkpoint.size === last.size) {
    if (!equalBytes(checkpoint.rootHash, last.rootHash)) {
      throw fail(
        "consistency",
        `split view: another root for tree size ${last.size} than the one this page verified`,
      );
    }
    return Number(last.size);
  }
  const older = checkpoint.size < last.size;
  if (older && !options.allowOlder) {
    throw fail(
      "consistency",
      `rolled back: tree size ${checkpoint.size} after size ${last.size} was verified`,
    );
  }
  const [small, large] = older ? [checkpoint, last] : [last, checkpoint];
  let proof = [];
  if (small.size > 0n) {
    if (typeof options.fetchConsistency !== "function") {
      throw fail(
        "consistency",
        `no way to fetch the proof that size ${large.size} extends size ${small.size} ` +
          "(options.fetchConsistency)",
      );
    }
    proof = await fetchedProof(options.fetchConsistency, small.size, large.size);
  }
  try {
    await verifyConsistency(small.size, large.size, small.rootHash, large.rootHash, proof);
  } catch (error) {
    if (error instanceof VerifyError) {
      throw fail(
        "consistency",
        `size ${large.size} does not extend size ${small.size}: ${error.detail}`,
      );
    }
    throw error;
  }
  return Number(last.size);
}

function inputText(input) {
  if (
    (input instanceof ArrayBuffer || input instanceof Uint8Array) &&
    input.byteLength > 4 * MAX_INPUT
  ) {
    throw fail("format", `the document is longer than ${MAX_INPUT} characters`);
  }
  let text = input;
  if (input instanceof ArrayBuffer) text = decodeUtf8(new Uint8Array(input));
  else if (input instanceof Uint8Array) text = decodeUtf8(input);
  if (typeof text !== "string") throw fail("format", "the document is not UTF-8 text");
  if (text.length > MAX_INPUT) {
    throw fail("format", `the document is longer than ${MAX_INPUT} characters`);
  }
  if (text.startsWith("\ufeff")) text = text.slice(1);
  return text;
}

/** Pasted or dropped note text as it was signed: LF line ends, one final newline. */
function noteInput(text) {
  return (
    text
      .replace(/\r\n/g, "\n")
      .replace(/^\n+/, "")
      .replace(/[ \t\n]+$/, "") + "\n"
  );
}

const keys = new Map(); // parsed log keys by text: importing a key is async work

async function logKeyOf(text) {
  if (typeof text !== "string") {
    throw fail("format", "options.logKey (the ledger's verifier key text) is required");
  }
  if (!keys.has(text)) {
    const parsed = parseVkey(text);
    keys.set(text, parsed);
    parsed.catch(() => keys.delete(text));
  }
  return keys.get(text);
}

/**
 * The key history in options.logKeys, `[[fromIndex, vkeyText], ...]` oldest first (the
 * first from -1), as the ledger's GET /v1/log/keys links give it after checking them; without
 * one, the log key alone.
 */
async function keyHistoryOf(history, key) {
  if (history === undefined || history === null) return [{ from: -1n, key }];
  if (!Array.isArray(history) || history.length === 0) {
    throw fail("format", "options.logKeys must be a list of [index, verifier key] pairs");
  }
  const keys = [];
  for (const pair of history) {
    if (!Array.isArray(pair) || pair.length !== 2 || !Number.isSafeInteger(pair[0])) {
      throw fail("format", "options.logKeys must be a list of [index, verifier key] pairs");
    }
    keys.push({ from: BigInt(pair[0]), key: await logKeyOf(pair[1]) });
  }
  return keys;
}

async function verify(input, options) {
  if (!isObject(options)) throw fail("format", "options must be an object with logKey");
  const key = await logKeyOf(options.logKey);
  const origin =
    options.origin === undefined || options.origin === null ? key.name : options.origin;
  if (typeof origin !== "string") throw fail("format", "options.origin is not a string");
  if (options.lastCheckpoint !== undefined && options.lastCheckpoint !== null) {
    rememberedCheckpoint(options.lastCheckpoint, "options.lastCheckpoint"); // refuse early
  }
  const context = { key, keys: await keyHistoryOf(options.logKeys, key), origin };
  const text = inputText(input);
  const start = text.trimStart();
  if (!start) throw fail("format", "the document is empty");
  let verified;
  if (start.startsWith("{") || start.startsWith("[")) {
    let document;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw fail("format", `not JSON: ${error.message}`);
    }
    if (!isObject(document)) throw fail("format", "the JSON is not an object");
    if ("statement" in document) verified = await verifyStatement(document, context);
    else if ("summary" in document) {
      throw fail(
        "format",
        "person summaries are verified with their history (`carbon-ledger verify`), " +
          "not in the browser",
      );
    } else if ("leaf_hash" in document || "signature" in document) {
      verified = await verifyReceipt(document, context);
    } else throw fail("format", "not a receipt, a grade statement or a period statement");
  } else {
    const note = noteInput(text);
    if (note.startsWith(TLOG_PROOF_HEADER + "\n")) {
      verified = await verifyTlogProof(note, context, options);
    } else {
      const header = note.split("\n", 1)[0];
      if ([GRADE_HEADER, PERIOD_HEADER, BALANCE_HEADER, SUMMARY_HEADER].includes(header)) {
        throw fail(
          "format",
          "a statement note alone proves nothing about the log: paste the whole JSON " +
            "answer (statement, checkpoint, entry, inclusion)",
        );
      }
      verified = await verifyCheckpointNote(note, context);
    }
  }
  const consistentWith = await checkConsistency(verified.checkpoint, options);
  if (verified.mapCheckpoint) await checkConsistency(verified.mapCheckpoint, options); // no fork
  const checkpoint = verified.checkpoint;
  return {
    ok: true,
    kind: verified.kind,
    facts: { ...verified.facts, consistentWith },
    checkpoint: {
      origin: checkpoint.origin,
      size: Number(checkpoint.size),
      rootHash: toHex(checkpoint.rootHash),
    },
  };
}

/**
 * Verify a pasted or dropped document (see the header comment for inputs, results and the
 * check names). Resolves to {ok: true, kind, facts, checkpoint} or {ok: false, check, detail};
 * never rejects for bad input.
 */
export async function verifyDocument(input, options) {
  try {
    return await verify(input, options);
  } catch (error) {
    if (error instanceof EnvironmentError) throw error;
    if (error instanceof VerifyError) {
      return { ok: false, check: error.check, detail: error.detail };
    }
    const message = error && error.message ? error.message : String(error);
    return { ok: false, check: "format", detail: `unreadable document: ${message}` };
  }
}

// ---------------------------------------------------------------------------------------
// The newest verified checkpoint per origin, in a localStorage-like object

function storedCheckpoint(value) {
  try {
    const { size, rootHash } = rememberedCheckpoint(value, "checkpoint");
    if (size > MAX_SAFE) return null;
    return { size: Number(size), rootHash: toHex(rootHash) };
  } catch {
    return null;
  }
}

/** The checkpoint remembered for `origin`, as {size, rootHash (hex)}, or null if none. */
export function lastCheckpoint(storage, origin) {
  try {
    const raw = storage.getItem(STORAGE_PREFIX + origin);
    return raw === null || raw === undefined ? null : storedCheckpoint(JSON.parse(raw));
  } catch {
    return null; // no storage (private mode), or something else under the key
  }
}

/**
 * Remember a verified checkpoint ({size, rootHash}, e.g. a result's `checkpoint`) for
 * `origin` unless a larger one is already remembered: the page never forgets a newer tree.
 * Returns the checkpoint remembered afterwards. TypeError if `checkpoint` is malformed.
 */
export function rememberCheckpoint(storage, origin, checkpoint) {
  const given = storedCheckpoint(checkpoint);
  if (!given) throw new TypeError("rememberCheckpoint needs {size, rootHash}");
  const current = lastCheckpoint(storage, origin);
  if (current && current.size >= given.size) return current;
  storage.setItem(
    STORAGE_PREFIX + origin,
    JSON.stringify({ size: String(given.size), rootHash: given.rootHash }),
  );
  return given;
}
