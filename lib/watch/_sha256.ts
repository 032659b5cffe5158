/**
 * Incremental SHA-256 (FIPS 180-4), so the version file can be hashed chunk by chunk in bounded
 * memory. `crypto.subtle.digest` only takes the whole input at once, and `node:crypto` would load
 * Deno's Node compatibility layer (7–12 MiB resident for as long as releasemon runs; issue 16).
 * Checked against `crypto.subtle` in tests/unit/sha256_test.ts. Pure.
 *
 * @module
 */

/** The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
/** The first 32 bits of the fractional parts of the square roots of the first 8 primes. */
const INITIAL = [
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
];
const BLOCK_BYTES = 64;

/** A running SHA-256: {@linkcode Sha256.update} any number of times, then one `hex()`. */
export class Sha256 {
  #state = Uint32Array.from(INITIAL);
  #block = new Uint8Array(BLOCK_BYTES);
  #blockView = new DataView(this.#block.buffer);
  #words = new Uint32Array(64);
  #filled = 0; // bytes in #block
  #length = 0; // bytes hashed so far
  #done = false;

  /** Adds `bytes` to the input. */
  update(bytes: Uint8Array): this {
    if (this.#done) throw new Error("Cannot update a SHA-256 after hex(): start a new one");
    this.#length += bytes.length;
    let offset = 0;
    while (offset < bytes.length) {
      const take = Math.min(BLOCK_BYTES - this.#filled, bytes.length - offset);
      this.#block.set(bytes.subarray(offset, offset + take), this.#filled);
      this.#filled += take;
      offset += take;
      if (this.#filled === BLOCK_BYTES) {
        this.#compress();
        this.#filled = 0;
      }
    }
    return this;
  }

  /** The digest of everything added, as 64 lowercase hex digits. Ends this hash. */
  hex(): string {
    if (this.#done) throw new Error("Cannot finish a SHA-256 twice: start a new one");
    this.#done = true;
    const bits = this.#length * 8;
    this.#block[this.#filled++] = 0x80;
    if (this.#filled > BLOCK_BYTES - 8) {
      this.#block.fill(0, this.#filled);
      this.#compress();
      this.#filled = 0;
    }
    this.#block.fill(0, this.#filled);
    // The length in bits as a 64-bit big-endian number (exact up to 2^53 bits).
    this.#blockView.setUint32(BLOCK_BYTES - 8, Math.floor(bits / 2 ** 32));
    this.#blockView.setUint32(BLOCK_BYTES - 4, bits >>> 0);
    this.#compress();
    return Array.from(this.#state, (word) => word.toString(16).padStart(8, "0")).join("");
  }

  #compress(): void {
    const w = this.#words;
    for (let i = 0; i < 16; i++) w[i] = this.#blockView.getUint32(i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15]!;
      const b = w[i - 2]!;
      const s0 = _rotr(a, 7) ^ _rotr(a, 18) ^ (a >>> 3);
      const s1 = _rotr(b, 17) ^ _rotr(b, 19) ^ (b >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) >>> 0;
    }
    const s = this.#state;
    let a = s[0]!, b = s[1]!, c = s[2]!, d = s[3]!, e = s[4]!, f = s[5]!, g = s[6]!, h = s[7]!;
    for (let i = 0; i < 64; i++) {
      const sum1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25);
      const choice = (e & f) ^ (~e & g);
      const t1 = (h + sum1 + choice + K[i]! + w[i]!) >>> 0;
      const sum0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22);
      const majority = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (sum0 + majority) >>> 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    s[0] = (s[0]! + a) >>> 0;
    s[1] = (s[1]! + b) >>> 0;
    s[2] = (s[2]! + c) >>> 0;
    s[3] = (s[3]! + d) >>> 0;
    s[4] = (s[4]! + e) >>> 0;
    s[5] = (s[5]! + f) >>> 0;
    s[6] = (s[6]! + g) >>> 0;
    s[7] = (s[7]! + h) >>> 0;
  }
}

function _rotr(word: number, bits: number): number {
  return (word >>> bits) | (word << (32 - bits));
}
