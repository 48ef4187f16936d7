/**
 * Local mode's `ChannelStore` (controller/ports.ts): what the API server is to the cluster
 * operator. The manifests folder is the desired state; this store keeps, per channel, the
 * resource the reconciler works on: the manifest's spec with a uid, a generation, the
 * finalizer, the reconciler's progress annotations, the deletion request and the status.
 * All of it is written to `<state dir>/status.json` (the local `kubectl get wac -o json`) and
 * read back at start, so a restarted local operator carries on where it stopped.
 *
 * - A new manifest is a new channel (a new uid). A changed spec bumps the generation.
 * - `spec.clinicId` and `spec.channelId` cannot change, as the CRD's CEL rules make them in a
 *   cluster: such an edit is reported and ignored.
 * - A manifest that is gone (its file deleted or emptied) is a deletion request: the channel
 *   gets a deletionTimestamp and stays until the reconciler releases its finalizer, after the
 *   deletion policy ran. A manifest for a channel still being deleted waits until it is gone.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import {
  API_VERSION,
  KIND,
  type WhatsAppChannel,
  type WhatsAppChannelStatus,
} from '../../../contract/index.ts';
import type { ChannelStore } from '../controller/ports.ts';
import { PROGRESS_ANNOTATIONS } from '../controller/progress.ts';
import type { DesiredChannels, ManifestProblem } from './manifest-folder.ts';

export type LocalOperatorEvent =
  | { type: 'problem'; problem: ManifestProblem }
  | { type: 'phase'; key: string; channel: WhatsAppChannel; status: WhatsAppChannelStatus }
  /** An Event of the channel (LoggedOut, PodReplaced…), as `kubectl describe` shows them. */
  | { type: 'event'; key: string; kind: 'Normal' | 'Warning'; reason: string; message: string }
  | { type: 'removed'; key: string }
  /** Worker processes started, restarted after back-off, or failing to start. */
  | { type: 'worker'; message: string; fields: Record<string, unknown> };

/** One entry of status.json. */
export interface ChannelView {
  key: string;
  clinicId: string;
  channelId: string;
  status: WhatsAppChannelStatus;
  worker: { holder: string; pid: number } | undefined;
  restarts: number;
  /** The channel as the reconciler sees it (uid, generation, finalizers, progress, deletion request). */
  resource: Pick<WhatsAppChannel, 'metadata' | 'spec'>;
}

export interface LocalChannelStoreOptions {
  statusFile: string;
  emit: (e: LocalOperatorEvent) => void;
  /** A channel changed (as a watch event would say): reconcile it. */
  changed: (key: string) => void;
  /** The worker process of a channel now, for status.json. */
  workerOf: (key: string) => { worker: ChannelView['worker']; restarts: number };
}

const keyOf = (c: WhatsAppChannel) => `${c.metadata.namespace}/${c.metadata.name}`;
const progressKeys = new Set<string>(Object.values(PROGRESS_ANNOTATIONS));

export class LocalChannelStore implements ChannelStore {
  private readonly records = new Map<string, WhatsAppChannel>();
  /** Manifests of channels still being deleted: applied once the deletion is done. */
  private readonly waiting = new Map<string, WhatsAppChannel>();
  private readonly options: LocalChannelStoreOptions;
  private reportedProblems = new Set<string>();
  private writing = Promise.resolve();
  private writeWaiting = false;

  constructor(options: LocalChannelStoreOptions) {
    this.options = options;
  }

  /** Reads the channels of the last run back from status.json (none on a first run). */
  async restore(): Promise<void> {
    let views: ChannelView[];
    try {
      views = JSON.parse(await readFile(this.options.statusFile, 'utf8')) as ChannelView[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`cannot read ${this.options.statusFile}: ${(err as Error).message}`);
    }
    for (const v of views)
      if (v.resource?.metadata?.uid)
        this.records.set(v.key, { apiVersion: API_VERSION, kind: KIND, ...v.resource, status: v.status });
  }

  /** The folder's content now: creates, updates and deletion requests; every channel is reconciled. */
  apply(desired: DesiredChannels): void {
    const problems = new Set<string>();
    const problem = (p: ManifestProblem) => {
      const id = `${p.file}: ${p.message}`;
      problems.add(id);
      if (!this.reportedProblems.has(id)) this.options.emit({ type: 'problem', problem: p });
    };
    desired.problems.forEach(problem);
    for (const key of [...this.records.keys()]) if (!desired.channels.has(key)) this.requestDeletion(key);
    for (const key of [...this.waiting.keys()]) if (!desired.channels.has(key)) this.waiting.delete(key);
    for (const [key, channel] of desired.channels) {
      const before = this.records.get(key);
      if (before?.metadata.deletionTimestamp) {
        this.waiting.set(key, channel);
        problem({
          file: key,
          message: `${key} is still being deleted; its manifest applies once that is done`,
        });
        continue;
      }
      if (
        before &&
        (before.spec.clinicId !== channel.spec.clinicId || before.spec.channelId !== channel.spec.channelId)
      ) {
        problem({
          file: key,
          message: `${key}: spec.clinicId and spec.channelId cannot change (delete the manifest and add a new one); the change is ignored`,
        });
        continue;
      }
      this.admit(key, channel, before);
    }
    this.reportedProblems = problems;
    this.save();
  }

  get(key: string): WhatsAppChannel | undefined {
    return this.records.get(key);
  }

  /** A folder holds a handful of channels: a scan is cheap. */
  claimsOf(clinicId: string, channelId: string): WhatsAppChannel[] {
    return [...this.records.values()].filter(
      (c) => c.spec.clinicId === clinicId && c.spec.channelId === channelId,
    );
  }

  staleFor(): number {
    return 0; // written in this process's memory: never stale
  }

  forget(): void {}

  async setFinalizers(channel: WhatsAppChannel, finalizers: string[]): Promise<WhatsAppChannel | undefined> {
    const rec = this.own(channel);
    if (!rec) return undefined;
    if (rec.metadata.deletionTimestamp && finalizers.length === 0) {
      this.remove(keyOf(rec));
      return undefined;
    }
    const next = { ...rec, metadata: { ...rec.metadata, finalizers } };
    this.update(rec, next);
    return next;
  }

  async annotate(
    channel: WhatsAppChannel,
    annotations: Record<string, string | null>,
    labels: Record<string, string | null> = {},
  ): Promise<void> {
    const rec = this.own(channel);
    if (!rec) return;
    const merge = (into: Record<string, string> | undefined, changes: Record<string, string | null>) => {
      const merged: Record<string, string> = { ...into };
      for (const [k, v] of Object.entries(changes))
        if (v === null) delete merged[k];
        else merged[k] = v;
      return merged;
    };
    const metadata = { ...rec.metadata, annotations: merge(rec.metadata.annotations, annotations) };
    if (Object.keys(labels).length) metadata.labels = merge(rec.metadata.labels, labels);
    this.update(rec, { ...rec, metadata });
  }

  /** The status is written like the status subresource: no reconcile follows (predicate.ts). */
  async applyStatus(channel: WhatsAppChannel, status: WhatsAppChannelStatus): Promise<void> {
    const rec = this.own(channel);
    if (!rec) return;
    const key = keyOf(rec);
    const next = { ...rec, status };
    this.records.set(key, next);
    this.save();
    const ready = (s: WhatsAppChannelStatus | undefined) =>
      s?.conditions?.find((c) => c.type === 'Ready')?.reason;
    // The console hears of phase and Ready changes; status.json follows every change.
    if (rec.status?.phase !== status.phase || ready(rec.status) !== ready(status))
      this.options.emit({ type: 'phase', key, channel: next, status });
  }

  async event(
    channel: WhatsAppChannel,
    kind: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    this.options.emit({ type: 'event', key: keyOf(channel), kind, reason, message });
  }

  /** The channels and their status now (what status.json holds). */
  view(): ChannelView[] {
    return [...this.records.entries()].map(([key, c]) => ({
      key,
      clinicId: c.spec.clinicId,
      channelId: c.spec.channelId,
      status: c.status ?? {},
      ...this.options.workerOf(key),
      resource: { metadata: c.metadata, spec: c.spec },
    }));
  }

  /**
   * Writes status.json atomically (readers never see half a file); one write at a time, and at
   * most one waiting: a write not yet started will carry every change made before it starts.
   */
  save(): void {
    if (this.writeWaiting) return;
    this.writeWaiting = true;
    this.writing = this.writing
      .then(async () => {
        this.writeWaiting = false; // what changes from here on needs the next write
        const tmp = `${this.options.statusFile}.tmp`;
        await writeFile(tmp, `${JSON.stringify(this.view(), null, 2)}\n`, { mode: 0o600 });
        await rename(tmp, this.options.statusFile);
      })
      .catch(() => undefined);
  }

  /** Resolves when status.json holds every change made so far. */
  async flush(): Promise<void> {
    await this.writing;
  }

  /** A manifest becomes (or updates) the channel; its progress, finalizer and status stay. */
  private admit(key: string, channel: WhatsAppChannel, before: WhatsAppChannel | undefined): void {
    const sameSpec = before !== undefined && JSON.stringify(before.spec) === JSON.stringify(channel.spec);
    const progress = Object.entries(before?.metadata.annotations ?? {}).filter(([k]) => progressKeys.has(k));
    const annotations = { ...channel.metadata.annotations, ...Object.fromEntries(progress) };
    const next: WhatsAppChannel = {
      ...channel,
      metadata: {
        ...channel.metadata,
        uid: before?.metadata.uid ?? randomUUID(),
        // The duplicate rule's order (controller/identity.ts): kept across restarts in status.json.
        creationTimestamp: before?.metadata.creationTimestamp ?? new Date().toISOString(),
        generation: (before?.metadata.generation ?? 0) + (sameSpec ? 0 : 1),
        finalizers: before?.metadata.finalizers ?? [],
        ...(Object.keys(annotations).length ? { annotations } : {}),
      },
      ...(before?.status ? { status: before.status } : {}),
    };
    this.records.set(key, next);
    this.changed(next);
  }

  private requestDeletion(key: string): void {
    const rec = this.records.get(key)!;
    if (rec.metadata.deletionTimestamp) return;
    if (!rec.metadata.finalizers?.length) return this.remove(key);
    this.update(rec, { ...rec, metadata: { ...rec.metadata, deletionTimestamp: new Date().toISOString() } });
  }

  private remove(key: string): void {
    const gone = this.records.get(key);
    this.records.delete(key);
    // The next claim of its identity may take over.
    if (gone)
      for (const c of this.claimsOf(gone.spec.clinicId, gone.spec.channelId)) this.options.changed(keyOf(c));
    this.options.emit({ type: 'removed', key });
    this.save();
    const next = this.waiting.get(key);
    this.waiting.delete(key);
    if (next) this.admit(key, next, undefined);
  }

  /** The stored record of this very channel (same uid): a write for an earlier one is dropped. */
  private own(channel: WhatsAppChannel): WhatsAppChannel | undefined {
    const rec = this.records.get(keyOf(channel));
    return rec && rec.metadata.uid === channel.metadata.uid ? rec : undefined;
  }

  private update(rec: WhatsAppChannel, next: WhatsAppChannel): void {
    const key = keyOf(rec);
    this.records.set(key, next);
    this.save();
    this.changed(next);
  }

  /** The channel and every other claim of its identity: a change to one may change who owns it. */
  private changed(channel: WhatsAppChannel): void {
    for (const c of this.claimsOf(channel.spec.clinicId, channel.spec.channelId))
      this.options.changed(keyOf(c));
  }
}
