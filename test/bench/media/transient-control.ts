/**
 * The memory control of the media benchmark: a process that pushes SIZE bytes through transient
 * 64 KiB chunks gathered into 1 MiB pieces and hashed, keeping nothing, as a streaming download
 * does. Its peak RSS above idle is what the garbage collector lets transient buffers reach
 * (V8 collects external memory only past a threshold), the floor any streaming consumer pays.
 * Prints {"idleMiB","peakMiB"} on stdout.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const mem = (field: 'VmRSS' | 'VmHWM') =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
const size = Number(process.env.SIZE);
await new Promise((r) => setTimeout(r, 500));
const idleMiB = mem('VmRSS');
const hash = createHash('sha256');
let pending: Buffer[] = [];
for (let i = 0; i < size / 65_536; i++) {
  pending.push(Buffer.allocUnsafe(65_536));
  if (pending.length === 16) {
    hash.update(Buffer.concat(pending));
    pending = [];
  }
  if (i % 64 === 0) await new Promise((r) => setImmediate(r));
}
process.stdout.write(`${JSON.stringify({ idleMiB, peakMiB: mem('VmHWM') })}\n`);
