/** Stops the servers that global-setup.ts started. */
export default async function teardown(): Promise<void> {
  await globalThis.__waStack?.stop();
  globalThis.__waStack = undefined;
}
