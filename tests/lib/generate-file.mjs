// The test files of the plain-JS harnesses (tests/e2e-firefox, bench/files): the
// same seeded generator as tests/e2e/lib/files.ts, so a seed means the same bytes
// everywhere.
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

const MiB = 1024 * 1024;

/**
 * Writes `size` bytes of deterministic pseudo-random data (xorshift32, seeded) to
 * `file`, 1 MiB at a time, and returns their SHA-256 (hex).
 */
export function generateFile(file, size, seed) {
  const hash = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    let x = seed >>> 0 || 1;
    const block = Buffer.alloc(MiB);
    for (let left = size; left > 0; ) {
      const n = Math.min(left, block.length);
      for (let i = 0; i < n; i += 4) {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        block.writeUInt32LE(x, i);
      }
      const chunk = block.subarray(0, n);
      writeSync(fd, chunk);
      hash.update(chunk);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
