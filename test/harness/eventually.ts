/**
 * Polls `probe` until it returns a truthy value (returned), or fails with what was awaited
 * (and the last error). For state that converges asynchronously in real servers. `what` may
 * be a function: it is then described at the timeout, with what is known by then.
 */
export async function eventually<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined | false>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${typeof what === 'function' ? what() : what}${last ? `: ${String(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
