/**
 * Carbon Ledger console: a firm disputes its latest grade, signing in the browser.
 *
 * The firm's private key file is read here, parsed, imported into WebCrypto and used to sign;
 * it never leaves the page (no request carries it, nothing keeps it). One ES module, no
 * dependencies, no eval, WebCrypto (SHA-256, Ed25519) only.
 *
 * The Python code is the source of truth for every format written here:
 *   - the private key file, as `carbon-ledger keys generate` writes it (tools/keys.py,
 *     ledger/keyfiles.py write_new_key, crypto/keys.py BaseSigner.text/parse): one line
 *     `PRIVATE+KEY+NAME+HHHHHHHH+BASE64(0x01 || 32-byte Ed25519 seed)` and a newline, read
 *     with surrounding white space stripped; NAME non-empty, without '+' or a Unicode space;
 *     HHHHHHHH the first four bytes (big-endian hex) of SHA-256(NAME || 0x0A || 0x01 || public
 *     key); BASE64 padded standard base64. The key id is `NAME+hhhhhhhh` (lower-case hex).
 *   - a document upload (api/documents.py, ledger/documents.py authorise_upload,
 *     crypto/records.py document_message/sign_document): POST /v1/accounts/{account}/documents
 *     with the raw bytes (at most 1 MiB, not empty) and `Document-Signature: <key id>
 *     <base64 Ed25519 over "carbon-ledger/document/v1\n" + account + "\n" + sha256 hex + "\n">`;
 *     the answer {sha256, size, account} names it by the hex SHA-256 a dispute cites.
 *   - a signed submission (crypto/records.py Submission, signed_submission, submission_message;
 *     ledger/submissions.py check_submission): {"submission": {account, type, data, key, at,
 *     id}, "signature": base64 Ed25519 over "carbon-ledger/submission/v1\n" + the RFC 8785
 *     (JCS) canonical JSON of the submission (crypto/canonical.py: strings, safe integers,
 *     arrays and objects with keys sorted by UTF-16 code units; no floats, no lone
 *     surrogates)}; `at` is UTC to the second, `YYYY-MM-DDTHH:MM:SSZ` (AT_FORMAT; the ledger
 *     refuses one more than 5 minutes ahead), `id` a new UUID. Here the type is GradeDisputed
 *     (ledger/domain/graded.py) {grade: leaf hash, reason, evidence: [sha256 ...]}, signed by
 *     the account's own key `ent.<code>` (ind:) or `farm.<code>` (agr:), POSTed as
 *     application/json to /v1/submissions?wait=true (api/submissions.py), answered with a
 *     receipt {account, seq, leaf_hash, entry, log, signature, index, ...} or an RFC 9457
 *     problem {type, title, status, detail, field?} (api/problems.py).
 *
 * The exported functions are pure (no DOM); the form is wired only where the page has one.
 */

const PRIVATE_KEY_PREFIX = "PRIVATE+KEY+";
const ALG_ED25519 = 0x01;
const KEY_SIZE = 32;
// PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410) up to the seed: the seed's 32 bytes follow.
const PKCS8_ED25519_PREFIX = "302e020100300506032b657004220420";
const SUBMISSION_CONTEXT = "carbon-ledger/submission/v1\n";
const DOCUMENT_CONTEXT = "carbon-ledger/document/v1\n";
const MAX_DOCUMENT_BYTES = 1024 * 1024;
const MAX_SAFE_INTEGER = 2 ** 53 - 1;
const OWNERS = { "ind:": "ent.", "agr:": "farm." }; // whose key disputes an account's grades

// Python's str.strip() white space (what the key file is stripped of) ...
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "gu");
// ... and Go's unicode.IsSpace, which a key name must not hold (crypto/keys.py _SPACE).
const GO_SPACE = /[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const HEX8 = /^[0-9a-fA-F]{8}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const LONE_SURROGATE = /\p{Cs}/u;

/** A key file, document or value this page refuses before anything is sent. */
export class LocalError extends Error {
  constructor(message, field = null) {
    super(message);
    this.name = "LocalError";
    this.field = field;
  }
}

/** What the ledger answered with an RFC 9457 problem (or an HTTP status without one). */
export class Refusal extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.name = "Refusal";
    this.status = status;
    this.title = typeof problem?.title === "string" ? problem.title : `HTTP ${status}`;
    this.detail = typeof problem?.detail === "string" ? problem.detail : "";
    this.field = typeof problem?.field === "string" ? problem.field : null;
  }
}

const encoder = new TextEncoder();

function subtle() {
  const found = globalThis.crypto?.subtle;
  if (!found) {
    throw new LocalError(
      "WebCrypto is unavailable here (it needs a secure context: HTTPS or localhost)",
    );
  }
  return found;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function fromHex(hex) {
  return Uint8Array.from(hex.match(/../g), (pair) => parseInt(pair, 16));
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Padded standard base64, decoded as strictly as Go's base64.StdEncoding. */
function decodeBase64(text) {
  if (!BASE64.test(text)) throw new LocalError("key data is not base64");
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function encodeBase64(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function decodeBase64Url(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded + "=".repeat((4 - (padded.length % 4)) % 4)), (c) =>
    c.charCodeAt(0),
  );
}

/** Python's str.partition: the text before the first `sep` and everything after it. */
function partition(text, sep) {
  const at = text.indexOf(sep);
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + sep.length)];
}

async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

/** The 32-bit key hash of a name and a raw public key (crypto/keys.py KeyType.key_hash). */
async function keyHash(name, publicKey) {
  const digest = await sha256(concat(encoder.encode(name), [0x0a, ALG_ED25519], publicKey));
  return new DataView(digest.buffer).getUint32(0, false);
}

/**
 * The signer in a private key file's text (its bytes, or text already decoded):
 * {name, keyId, publicKey, privateKey} with privateKey a non-extractable WebCrypto Ed25519
 * key. LocalError if the text is not a key `carbon-ledger keys generate` would write, or its
 * stated hash is not that of its name and the public key its seed derives.
 */
export async function parseSignerKey(file) {
  let text = file;
  if (typeof file !== "string") {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(file);
    } catch {
      throw new LocalError("the key file is not valid UTF-8");
    }
  }
  text = text.replace(PY_STRIP, "");
  if (!text.startsWith(PRIVATE_KEY_PREFIX)) {
    throw new LocalError(`malformed signer key: does not start with '${PRIVATE_KEY_PREFIX}'`);
  }
  const [name, rest] = partition(text.slice(PRIVATE_KEY_PREFIX.length), "+");
  const [hash16, data64] = partition(rest, "+");
  if (!name) throw new LocalError("malformed signer key: key name is empty");
  if (GO_SPACE.test(name) || LONE_SURROGATE.test(name)) {
    throw new LocalError(`malformed signer key: key name ${JSON.stringify(name)} is not valid`);
  }
  if (!HEX8.test(hash16)) {
    throw new LocalError("malformed signer key: key hash is not 8 hex digits");
  }
  let data;
  try {
    data = decodeBase64(data64);
  } catch {
    throw new LocalError("malformed signer key: key data is not base64");
  }
  if (data.length === 0) throw new LocalError("malformed signer key: key data is empty");
  if (data[0] !== ALG_ED25519) {
    throw new LocalError(`unknown signer key algorithm 0x${data[0].toString(16).padStart(2, "0")}`);
  }
  if (data.length !== 1 + KEY_SIZE) {
    throw new LocalError(`malformed signer key: Ed25519 key is ${data.length - 1} bytes, not 32`);
  }
  const pkcs8 = concat(fromHex(PKCS8_ED25519_PREFIX), data.subarray(1));
  data.fill(0);
  try {
    const algorithm = { name: "Ed25519" };
    let publicKey;
    try {
      // extractable once, only to learn the public half the seed derives (JWK `x`)
      const probe = await subtle().importKey("pkcs8", pkcs8, algorithm, true, ["sign"]);
      publicKey = decodeBase64Url((await subtle().exportKey("jwk", probe)).x);
    } catch (error) {
      if (error instanceof LocalError) throw error;
      throw new LocalError(`this browser cannot use the Ed25519 key (${error?.name || error})`);
    }
    const stated = parseInt(hash16, 16);
    const computed = await keyHash(name, publicKey);
    if (stated !== computed) {
      const hex = computed.toString(16).padStart(8, "0");
      throw new LocalError(
        `signer key hash ${hash16.toLowerCase()} does not match its name and key (expected ${hex})`,
      );
    }
    const privateKey = await subtle().importKey("pkcs8", pkcs8, algorithm, false, ["sign"]);
    const keyId = `${name}+${computed.toString(16).padStart(8, "0")}`;
    return { name, keyId, publicKey, privateKey };
  } finally {
    pkcs8.fill(0);
  }
}

/** RFC 8785 canonical JSON of strings, booleans, null, safe integers, arrays and objects. */
export function canonicalJson(value, path = "$") {
  if (value === null || value === true || value === false) return JSON.stringify(value);
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw new LocalError("string holds a lone surrogate", path);
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isInteger(value)) {
      throw new LocalError("floats are not allowed; use an integer in base units", path);
    }
    if (Math.abs(value) > MAX_SAFE_INTEGER) {
      throw new LocalError(`integer ${value} is beyond +-(2^53-1)`, path);
    }
    return String(value === 0 ? 0 : value); // -0 is 0
  }
  if (Array.isArray(value)) {
    return `[${value.map((item, i) => canonicalJson(item, `${path}[${i}]`)).join(",")}]`;
  }
  if (typeof value === "object") {
    const keys = Object.keys(value).sort(); // by UTF-16 code units, as JCS sorts
    const members = keys.map((key) => {
      if (LONE_SURROGATE.test(key)) throw new LocalError("key holds a lone surrogate", path);
      return `${JSON.stringify(key)}:${canonicalJson(value[key], `${path}.${key}`)}`;
    });
    return `{${members.join(",")}}`;
  }
  throw new LocalError(`${typeof value} is not a JSON value`, path);
}

/** `at` as signed_submission writes it: UTC, to the second (AT_FORMAT %Y-%m-%dT%H:%M:%SZ). */
export function submissionTime(date = new Date()) {
  return date.toISOString().replace(/\.[0-9]+Z$/, "Z");
}

function newId() {
  if (typeof globalThis.crypto.randomUUID === "function") return globalThis.crypto.randomUUID();
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The wire form {submission, signature} of `type` with `data` on `account` by `signer`
 * (crypto/records.py signed_submission); `id` defaults to a new UUID, `at` to now.
 */
export async function signSubmission(signer, account, type, data, { id, at } = {}) {
  const submission = {
    account,
    type,
    data,
    key: signer.keyId,
    at: at || submissionTime(),
    id: id || newId(),
  };
  const message = encoder.encode(SUBMISSION_CONTEXT + canonicalJson(submission, "$.submission"));
  const signature = await subtle().sign({ name: "Ed25519" }, signer.privateKey, message);
  return { submission, signature: encodeBase64(new Uint8Array(signature)) };
}

/** The hex SHA-256 of a document (ledger/documents.py document_digest). */
export async function documentDigest(content) {
  return toHex(await sha256(content));
}

/** The Document-Signature header for attaching `content` to `account` (sign_document). */
export async function documentSignature(signer, account, content) {
  const digest = await documentDigest(content);
  const message = encoder.encode(`${DOCUMENT_CONTEXT}${account}\n${digest}\n`);
  const signature = await subtle().sign({ name: "Ed25519" }, signer.privateKey, message);
  return { digest, header: `${signer.keyId} ${encodeBase64(new Uint8Array(signature))}` };
}

/** The key name that may dispute grades of `account` (ledger/domain/graded.py). */
export function ownerKeyName(account) {
  const prefix = OWNERS[account.slice(0, 4)];
  return prefix ? prefix + account.slice(4) : null;
}

async function answerOf(response) {
  const type = response.headers.get("content-type") || "";
  let body = null;
  if (type.includes("json")) {
    try {
      body = await response.json();
    } catch {
      body = null;
    }
  }
  if (!response.ok) throw new Refusal(response.status, body);
  if (body === null || typeof body !== "object") {
    throw new Refusal(response.status, { title: "Unexpected answer", detail: type });
  }
  return body;
}

/** Upload a document signed by `signer`; its hex SHA-256 (checked against the answer). */
export async function uploadDocument(signer, account, content) {
  if (content.length === 0) throw new LocalError("the document is empty", "body");
  if (content.length > MAX_DOCUMENT_BYTES) {
    throw new LocalError(`a document is at most ${MAX_DOCUMENT_BYTES} bytes`, "body");
  }
  const { digest, header } = await documentSignature(signer, account, content);
  const response = await fetch(`/v1/accounts/${encodeURIComponent(account)}/documents`, {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream", "Document-Signature": header },
    body: content,
    cache: "no-store",
  });
  const answer = await answerOf(response);
  if (answer.sha256 !== digest) {
    throw new Refusal(response.status, {
      title: "Unexpected answer",
      detail: `the ledger names the document ${answer.sha256}, not ${digest}`,
    });
  }
  return digest;
}

/** POST a signed submission, waiting for its inclusion proof; the receipt. */
export async function submit(wire) {
  const response = await fetch("/v1/submissions?wait=true", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: canonicalJson(wire),
    cache: "no-store",
  });
  return answerOf(response);
}

/**
 * Dispute `grade` of `account`: the key file's bytes, the reason and the evidence document's
 * bytes (or null). The receipt; LocalError or Refusal otherwise.
 */
export async function disputeGrade({ account, grade, keyFile, reason, document }) {
  const signer = await parseSignerKey(keyFile);
  const owner = ownerKeyName(account);
  if (signer.name !== owner) {
    throw new LocalError(
      `this is key ${signer.name}; only key ${owner} may dispute grades of ${account}`,
      "submission.key",
    );
  }
  const evidence = document ? [await uploadDocument(signer, account, document)] : [];
  const wire = await signSubmission(signer, account, "GradeDisputed", { grade, reason, evidence });
  return submit(wire);
}

const WORDS = {
  zh: {
    working: "正在本机签名并提交……",
    recorded: "异议已记入账本",
    leaf: "叶哈希",
    index: "日志序号",
    pending: "尚未并入日志",
    refused: "被拒绝",
    field: "字段",
    local: "未提交",
    failed: "提交失败",
  },
  en: {
    working: "Signing on this machine and submitting…",
    recorded: "Dispute recorded in the ledger",
    leaf: "leaf hash",
    index: "log index",
    pending: "not yet in the log",
    refused: "Refused",
    field: "field",
    local: "Not submitted",
    failed: "Submission failed",
  },
};

function bindForm(section) {
  const form = section.querySelector("#dispute-form");
  const keyInput = section.querySelector("#dispute-key");
  const reasonInput = section.querySelector("#dispute-reason");
  const documentInput = section.querySelector("#dispute-document");
  const result = section.querySelector("#dispute-result");
  const button = form.querySelector("button[type=submit]");
  const words = document.documentElement.lang.startsWith("zh") ? WORDS.zh : WORDS.en;

  function show(outcome, lines, facts = {}) {
    result.replaceChildren();
    for (const key of ["outcome", "leafHash", "index", "status", "field"]) delete result.dataset[key];
    lines.forEach((line, i) => {
      if (i) result.append(document.createElement("br"));
      for (const part of line) {
        if (typeof part === "string") {
          result.append(part);
        } else {
          const code = document.createElement("code");
          code.textContent = part.code;
          result.append(code);
        }
      }
    });
    result.className = outcome === "accepted" ? "ok" : outcome === "working" ? "" : "fail";
    Object.assign(result.dataset, facts);
    if (outcome !== "working") result.dataset.outcome = outcome;
  }

  function showError(error) {
    if (error instanceof Refusal) {
      const lines = [[`${words.refused}: ${error.status} ${error.title}`]];
      if (error.detail) lines.push([error.detail]);
      if (error.field) lines.push([`${words.field}: `, { code: error.field }]);
      const facts = { status: String(error.status) };
      if (error.field) facts.field = error.field;
      show("refused", lines, facts);
    } else if (error instanceof LocalError) {
      const lines = [[`${words.local}: ${error.message}`]];
      if (error.field) lines.push([`${words.field}: `, { code: error.field }]);
      show("invalid", lines, error.field ? { field: error.field } : {});
    } else {
      show("error", [[`${words.failed}: ${error?.message || error}`]]);
    }
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    result.setAttribute("aria-busy", "true");
    show("working", [[words.working]]);
    let keyBytes = null;
    try {
      const keyFile = keyInput.files[0];
      if (!keyFile) throw new LocalError("choose the private key file", "key");
      keyBytes = new Uint8Array(await keyFile.arrayBuffer());
      const attached = documentInput.files[0];
      const receipt = await disputeGrade({
        account: section.dataset.account,
        grade: section.dataset.grade,
        keyFile: keyBytes,
        reason: reasonInput.value,
        document: attached ? new Uint8Array(await attached.arrayBuffer()) : null,
      });
      const index = Number.isInteger(receipt.index) ? String(receipt.index) : null;
      show(
        "accepted",
        [
          [words.recorded],
          [`${words.leaf}: `, { code: receipt.leaf_hash }],
          [`${words.index}: `, index === null ? words.pending : { code: index }],
        ],
        index === null ? { leafHash: receipt.leaf_hash } : { leafHash: receipt.leaf_hash, index },
      );
    } catch (error) {
      showError(error);
    } finally {
      keyBytes?.fill(0); // the key's text is kept nowhere
      result.removeAttribute("aria-busy");
      button.disabled = false;
    }
  }

  form.addEventListener("submit", (event) => {
    onSubmit(event).catch(showError); // never an unhandled rejection
  });
}

if (typeof document !== "undefined") {
  const section = document.getElementById("dispute");
  if (section && section.querySelector("#dispute-form")) bindForm(section);
}
