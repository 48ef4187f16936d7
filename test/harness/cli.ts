/**
 * Manual entry to the test servers: `npm run servers -- build` builds every missing
 * binary into the cache; `npm run servers -- start` starts them all and prints how
 * to reach them, until Ctrl-C; `npm run servers -- images` builds the product's two images
 * (installing and starting Docker when needed) and prints their names and sizes.
 */
import { ensureProductImages } from './images/product-images.ts';
import { ensureAllBinaries, startStack } from './stack.ts';

const log = (line: string) => process.stderr.write(`[servers] ${line}\n`);
const command = process.argv[2] ?? 'help';

if (command === 'build') {
  const bins = await ensureAllBinaries(log);
  for (const [name, path] of Object.entries(bins)) console.log(`${name}\t${path}`);
} else if (command === 'start') {
  const running = await startStack(log);
  console.log(JSON.stringify(running.stack, null, 2));
  log('running; Ctrl-C stops every server');
  const stop = () => void running.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else if (command === 'images') {
  console.log(JSON.stringify(await ensureProductImages(log), null, 2));
} else {
  console.log('usage: npm run servers -- build | start | images');
  process.exitCode = command === 'help' ? 0 : 2;
}
