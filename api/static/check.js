// The public page's "check a receipt": the browser verifies what is pasted or dropped with
// verify.js (WebCrypto), remembering the newest verified checkpoint per log in localStorage
// so a later document on an older (rolled back) or inconsistent tree is caught.
import { verifyDocument, lastCheckpoint, rememberCheckpoint } from "./verify.js";

const section = document.getElementById("check");
const input = document.getElementById("check-input");
const file = document.getElementById("check-file");
const result = document.getElementById("check-result");
const logKey = section.dataset.logKey;
const logKeys = JSON.parse(section.dataset.logKeys || "null"); // the key's history, if rotated
const origin = section.dataset.origin;

async function fetchConsistency(first, second) {
  const answer = await fetch(`/v1/log/proof/consistency?first=${first}&second=${second}`);
  if (!answer.ok) throw new Error(`consistency proof: HTTP ${answer.status}`);
  const body = await answer.json();
  return body.hashes;
}

function show(ok, text) {
  result.textContent = text;
  result.className = ok ? "ok" : "fail";
}

async function check() {
  const text = input.value.trim();
  if (!text) return;
  let outcome;
  try {
    outcome = await verifyDocument(text, {
      logKey,
      logKeys,
      origin,
      lastCheckpoint: lastCheckpoint(localStorage, origin),
      fetchConsistency,
      allowOlder: true, // an older receipt is fine if the tree seen since extends its tree
    });
  } catch (error) {
    // no WebCrypto Ed25519 here (a page served over plain HTTP is not a secure context)
    show(false, `${error.name}: ${error.message}`);
    return;
  }
  if (outcome.ok) {
    rememberCheckpoint(localStorage, origin, outcome.checkpoint);
    show(true, `OK: ${outcome.kind} · ${JSON.stringify(outcome.facts)}`);
  } else {
    show(false, `FAIL: ${outcome.check}${outcome.detail ? ` (${outcome.detail})` : ""}`);
  }
}

document.getElementById("check-button").addEventListener("click", check);
file.addEventListener("change", async () => {
  if (file.files.length) {
    input.value = await file.files[0].text();
    await check();
  }
});
section.addEventListener("dragover", (event) => event.preventDefault());
section.addEventListener("drop", async (event) => {
  event.preventDefault();
  if (event.dataTransfer.files.length) {
    input.value = await event.dataTransfer.files[0].text();
    await check();
  }
});
