/**
 * The desired channels of local mode: the WhatsAppChannel manifests in one folder, read
 * like a GitOps checkout and watched for changes.
 *
 * - Every `*.yaml` / `*.yml` file (several documents per file allowed) is parsed and
 *   validated (manifest-validation.ts). A channel is known by `<namespace>/<name>`.
 * - A file that does not parse or validate is reported and ignored: the channels it held
 *   before stay exactly as they were (as the API server refuses a bad apply and keeps the
 *   stored object). Nothing else changes. Deleting the file removes its channels.
 * - Two manifests for the same channel are a problem: the one in the file that sorts first
 *   wins, the other is reported. Two channels with one clinic/channel pair are both kept:
 *   as in a cluster, the reconciler's duplicate rule (controller/identity.ts) lets the older
 *   one run and shows the other as `DuplicateChannel`; a file name never decides who owns a
 *   session (a new file sorting first would otherwise delete the running owner).
 * - `fs.watch` fires several times per save (editors write, rename, chmod); changes are
 *   debounced, then the whole folder is read again (cheap: a few small files).
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { validateChannelManifest } from './manifest-validation.ts';

export interface ManifestProblem {
  file: string;
  message: string;
}

export interface DesiredChannels {
  /** `<namespace>/<name>` → the validated channel (defaults applied). */
  channels: Map<string, WhatsAppChannel>;
  problems: ManifestProblem[];
}

export const channelKey = (c: WhatsAppChannel) => `${c.metadata.namespace}/${c.metadata.name}`;

/** Parses one file into channels, or the reasons it is refused as a whole. */
export function parseManifestFile(
  text: string,
): { ok: true; channels: WhatsAppChannel[] } | { ok: false; errors: string[] } {
  const docs = parseAllDocuments(text);
  const errors: string[] = [];
  const channels: WhatsAppChannel[] = [];
  for (const [i, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    const where = `document ${i + 1}`;
    if (doc.errors.length > 0) {
      errors.push(`${where}: YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
      continue;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue; // an empty document (a trailing ---)
    const checked = validateChannelManifest(value);
    if (checked.ok) channels.push(checked.channel);
    else errors.push(...checked.errors.map((e) => `${where}: ${e}`));
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, channels };
}

export class ManifestFolder {
  readonly dir: string;
  /** file → the channels of its last valid version. */
  private readonly lastValid = new Map<string, WhatsAppChannel[]>();

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Reads the folder now. Throws only if the folder itself cannot be read. */
  async read(): Promise<DesiredChannels> {
    const files = (await readdir(this.dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name) && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
    const problems: ManifestProblem[] = [];
    for (const file of [...this.lastValid.keys()]) if (!files.includes(file)) this.lastValid.delete(file);
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(join(this.dir, file), 'utf8');
      } catch (err) {
        // Deleted between readdir and readFile: the next event reads the folder again.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const parsed = parseManifestFile(text);
      if (parsed.ok) this.lastValid.set(file, parsed.channels);
      else
        problems.push({
          file,
          message: `${parsed.errors.join('; ')}${this.lastValid.has(file) ? ' (its previous version stays in effect)' : ' (ignored)'}`,
        });
    }
    const channels = new Map<string, WhatsAppChannel>();
    for (const [file, list] of [...this.lastValid.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      for (const c of list) {
        const key = channelKey(c);
        if (channels.has(key))
          problems.push({ file, message: `${key} is defined in an earlier file too; this one is ignored` });
        else channels.set(key, c);
      }
    }
    return { channels, problems };
  }

  /**
   * Calls `onChange` with the folder's content now and after every change (debounced).
   * Returns a function that stops watching.
   */
  watch(
    onChange: (desired: DesiredChannels) => void,
    onError: (err: Error) => void,
    debounceMs = 200,
  ): () => void {
    let timer: NodeJS.Timeout | undefined;
    let reading = Promise.resolve();
    let closed = false;
    const reread = () => {
      // One read at a time, in order: a slow read never overtakes a later one.
      reading = reading.then(async () => {
        if (closed) return;
        try {
          onChange(await this.read());
        } catch (err) {
          onError(err as Error);
        }
      });
    };
    const watcher: FSWatcher = watch(this.dir, () => {
      clearTimeout(timer);
      timer = setTimeout(reread, debounceMs);
    });
    watcher.on('error', onError);
    reread();
    return () => {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    };
  }
}
