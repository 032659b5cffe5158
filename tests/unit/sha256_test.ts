import assert from "node:assert/strict";
import { Sha256 } from "../../lib/watch/_sha256.ts";

async function reference(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A small seeded generator, so a failure names inputs that can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

Deno.test("Sha256 gives the FIPS 180-4 example digests", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  assert.equal(
    new Sha256().hex(),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    new Sha256().update(text("abc")).hex(),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    new Sha256().update(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex(),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("Sha256 matches crypto.subtle for every length around the block and padding edges", async () => {
  const next = random(1);
  for (let length = 0; length <= 200; length++) {
    const bytes = Uint8Array.from({ length }, () => Math.floor(next() * 256));
    assert.equal(new Sha256().update(bytes).hex(), await reference(bytes), `length ${length}`);
  }
});

Deno.test("Sha256 gives the same digest however the input is split into updates", async () => {
  const next = random(7);
  for (let round = 0; round < 60; round++) {
    const length = Math.floor(next() * 5000);
    const bytes = Uint8Array.from({ length }, () => Math.floor(next() * 256));
    const hash = new Sha256();
    for (let offset = 0; offset < length;) {
      const take = Math.floor(next() * 300);
      hash.update(bytes.subarray(offset, offset + take));
      offset += take;
    }
    assert.equal(hash.hex(), await reference(bytes), `round ${round}, length ${length}`);
  }
});

Deno.test("Sha256 hashes a multi-megabyte input like crypto.subtle", async () => {
  const bytes = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31 + (i >> 9)) & 0xff);
  const hash = new Sha256();
  for (let offset = 0; offset < bytes.length; offset += 65536) {
    hash.update(bytes.subarray(offset, offset + 65536));
  }
  assert.equal(hash.hex(), await reference(bytes));
});

Deno.test("Sha256 refuses to be used after it is finished", () => {
  const hash = new Sha256();
  hash.hex();
  assert.throws(() => hash.update(new Uint8Array(1)), /Cannot update a SHA-256 after hex\(\)/);
  assert.throws(() => hash.hex(), /Cannot finish a SHA-256 twice/);
});
