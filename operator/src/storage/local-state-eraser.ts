/**
 * Erasing a channel's stored state in local mode (the `Logout` deletion policy): the folder
 * `<objects dir>/<prefix>/<clinic>/<channel>/` that the worker's local disk store writes
 * (docs/local-mode.md), quarantined copies included, the local twin of `S3ChannelStateEraser`.
 */
import { readdir, rm } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { channelStatePrefix } from '../../../contract/state-layout.ts';
import type { ChannelLocation, ChannelStateEraser } from './state-eraser.ts';

export class LocalChannelStateEraser implements ChannelStateEraser {
  private readonly objectsDir: string;

  constructor(objectsDir: string) {
    this.objectsDir = resolve(objectsDir);
  }

  describe(location: ChannelLocation): string {
    return this.folder(location);
  }

  /** Removes the channel's folder; resolves with how many objects it held (lock files not counted). */
  async erase(location: ChannelLocation): Promise<number> {
    const folder = this.folder(location);
    const objects = await countObjects(folder);
    await rm(folder, { recursive: true, force: true });
    return objects;
  }

  private folder(location: ChannelLocation): string {
    const folder = resolve(this.objectsDir, channelStatePrefix(location));
    // The ids are validated by the CRD's schema; this keeps a bad one from reaching outside anyway.
    if (!folder.startsWith(this.objectsDir + sep))
      throw new Error(`the channel's state folder ${folder} is outside ${this.objectsDir}`);
    return folder;
  }
}

/** Objects under a folder: files not starting with a dot (the store's lock and temporary files do; keys never). */
async function countObjects(folder: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true, recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  return entries.filter((e) => e.isFile() && !e.name.startsWith('.')).length;
}
