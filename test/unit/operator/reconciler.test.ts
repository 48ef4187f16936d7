import pino from 'pino';
import {
  AuditTrail,
  FINALIZER,
  type StatusEvent,
  type WhatsAppChannel,
  type WhatsAppChannelStatus,
} from '../../../contract/index.ts';
import type { DeletionSteps, LogoutOutcome } from '../../../operator/src/controller/deletion.ts';
import type {
  ChannelStore,
  WorkerObservation,
  WorkerRuntime,
} from '../../../operator/src/controller/ports.ts';
import { PROGRESS_ANNOTATIONS } from '../../../operator/src/controller/progress.ts';
import { Reconciler, type ReconcilerDeps } from '../../../operator/src/controller/reconciler.ts';
import { announcesPhase } from '../../../operator/src/controller/status-step.ts';
import { RolloutGate } from '../../../operator/src/controller/rollout-gate.ts';
import { ROLLOUT_ANNOTATION, ROLLOUT_LABEL } from '../../../operator/src/controller/rollout-marks.ts';
import type { RolloutPolicy } from '../../../operator/src/controller/rollout-plan.ts';
import type { StatusReports } from '../../../operator/src/nats/status-reports.ts';

/**
 * The reconcile's composition of its steps, through in-memory ports (the real ones are tested
 * against the API server and local processes in test/integration/{operator,local}): what each
 * step writes, in which order, and that its progress lives in the store, not the reconciler.
 */
const log: string[] = [];

class MemoryStore implements ChannelStore {
  channel: WhatsAppChannel | undefined;
  /** Other channels with the same identity (the duplicate rule). */
  others: WhatsAppChannel[] = [];
  get = () => this.channel;
  claimsOf = () => [...(this.channel ? [this.channel] : []), ...this.others];
  staleFor = () => 0;
  forget = () => {};
  /** Whether setFinalizers returns the written channel (as the API server's response does). */
  returnsWrite = true;
  async setFinalizers(_c: WhatsAppChannel, finalizers: string[]) {
    log.push(`finalizers ${finalizers.join(',') || '-'}`);
    if (this.channel!.metadata.deletionTimestamp && finalizers.length === 0) this.channel = undefined;
    else this.channel = { ...this.channel!, metadata: { ...this.channel!.metadata, finalizers } };
    return this.returnsWrite ? this.channel : undefined;
  }
  async annotate(
    _c: WhatsAppChannel,
    annotations: Record<string, string | null>,
    labels?: Record<string, string | null>,
  ) {
    log.push(`annotate ${JSON.stringify(annotations)}${labels ? ` labels ${JSON.stringify(labels)}` : ''}`);
    const merge = (into: Record<string, string> | undefined, changes: Record<string, string | null>) => {
      const merged: Record<string, string> = { ...into };
      for (const [k, v] of Object.entries(changes))
        if (v === null) delete merged[k];
        else merged[k] = v;
      return merged;
    };
    const { metadata } = this.channel!;
    this.channel = {
      ...this.channel!,
      metadata: {
        ...metadata,
        annotations: merge(metadata.annotations, annotations),
        labels: merge(metadata.labels, labels ?? {}),
      },
    };
  }
  async applyStatus(_c: WhatsAppChannel, status: WhatsAppChannelStatus) {
    log.push(`status ${status.conditions!.find((c) => c.type === 'WorkerRunning')!.reason}`);
    this.channel = { ...this.channel!, status };
  }
  async event(_c: WhatsAppChannel, _t: string, reason: string) {
    log.push(`event ${reason}`);
  }
}

class MemoryWorkers implements WorkerRuntime {
  worker: WorkerObservation | undefined;
  refuse: string | undefined;
  observe = () => this.worker;
  desiredSpecHash = () => 'h1';
  staleFor = () => 0;
  async start(channel: WhatsAppChannel) {
    if (this.refuse) {
      log.push('start refused');
      return { refused: this.refuse };
    }
    log.push('start');
    this.worker = {
      name: 'wa-front',
      label: 'worker wa-front',
      identity: 'wa-front_1',
      ownerUid: channel.metadata.uid,
      specHash: this.desiredSpecHash(),
      channelGeneration: channel.metadata.generation,
      activity: 'running',
      restarts: 0,
    };
    return undefined;
  }
  async stop() {
    log.push('stop');
    this.worker = { ...this.worker!, activity: 'stopping' };
  }
}

const report: StatusEvent = {
  v: 1,
  clinicId: 'a',
  channelId: 'front',
  worker: 'wa-front_1',
  phase: 'Connected',
  reconnects: 0,
  degraded: false,
  at: '2026-01-01T00:00:00.000Z',
  seq: 1,
  account: '15550001111@s.whatsapp.net',
};
/** Whether the channel's worker reported its device unlinked by a logout command. */
let loggedOutReported = false;
const reports = {
  get: (_c: string, _ch: string, worker: string | undefined) =>
    worker === report.worker ? report : undefined,
  bootstrap: async () => {},
  forget: () => {},
  loggedOutByCommand: () => loggedOutReported,
} as unknown as StatusReports;

let store: MemoryStore;
let workers: MemoryWorkers;
let deletion: DeletionSteps & { logoutOutcome: LogoutOutcome };
const reconciler = (extra: Partial<ReconcilerDeps> = {}) =>
  new Reconciler({
    channels: store,
    workers,
    reports,
    deletion,
    deletionTimeoutMs: 60_000,
    audit: new AuditTrail('operator', () => undefined, pino({ level: 'silent' })),
    logger: pino({ level: 'silent' }),
    ...extra,
  });
/** The platform refuses the image `evil:1`. */
const noEvilImage: ReconcilerDeps['workerPolicy'] = (c) =>
  c.spec.worker?.image === 'evil:1' ? { reason: 'ImageNotAllowed', message: 'not allowed' } : undefined;

beforeEach(() => {
  log.length = 0;
  loggedOutReported = false;
  store = new MemoryStore();
  store.channel = {
    apiVersion: 'whatsapp.clinic.dev/v1alpha1',
    kind: 'WhatsAppChannel',
    metadata: { name: 'front', namespace: 'n', uid: 'u1', generation: 1 },
    spec: { clinicId: 'a', channelId: 'front', deletionPolicy: 'Logout' },
  };
  workers = new MemoryWorkers();
  deletion = {
    logoutOutcome: { done: true },
    async logout() {
      log.push('logout');
      return this.logoutOutcome;
    },
    async erase() {
      log.push('erase');
      return 3;
    },
    stateLocation: () => 'memory',
  };
});

test('a new channel: the finalizer, then the worker, then the status; a steady state writes nothing', async () => {
  const r = reconciler();
  for (let i = 0; i < 4; i++) await r.reconcile('n/front');
  expect(log).toEqual([`finalizers ${FINALIZER}`, 'start', 'status PodRunning']);
  expect(store.channel!.status!.phase).toBe('Connected');
});

test('a new channel: its worker is created in the reconcile that adds the finalizer, after it, from the written channel', async () => {
  const r = reconciler();
  await r.reconcile('n/front');
  expect(log).toEqual([`finalizers ${FINALIZER}`, 'start']);
  // The status waits for the next reconcile (the runtime's change brings it back).
  await r.reconcile('n/front');
  expect(log).toEqual([`finalizers ${FINALIZER}`, 'start', 'status PodRunning']);
});

test('a finalizer write the store does not return ends the reconcile: the worker waits for the store to show it', async () => {
  store.returnsWrite = false;
  const r = reconciler();
  await r.reconcile('n/front');
  expect(log).toEqual([`finalizers ${FINALIZER}`]);
  expect(workers.worker).toBeUndefined();
  await r.reconcile('n/front');
  expect(log).toEqual([`finalizers ${FINALIZER}`, 'start']);
});

test('a finalizer write that returns the channel being deleted creates no worker', async () => {
  const r = reconciler();
  const original = store.setFinalizers.bind(store);
  store.setFinalizers = async (c, finalizers) => {
    const written = await original(c, finalizers);
    return { ...written!, metadata: { ...written!.metadata, deletionTimestamp: new Date().toISOString() } };
  };
  await r.reconcile('n/front');
  expect(log).toEqual([`finalizers ${FINALIZER}`]);
  expect(workers.worker).toBeUndefined();
});

test("a new channel's first Pending is no Event (its creation says as much); the worker's Connected is", async () => {
  const r = reconciler();
  const reportsBefore = report.worker;
  // The worker has not reported yet: its identity is not the report's.
  (report as { worker: string }).worker = 'not-yet';
  try {
    for (let i = 0; i < 4; i++) await r.reconcile('n/front');
    expect(store.channel!.status!.phase).toBe('Pending');
    expect(log).toEqual([`finalizers ${FINALIZER}`, 'start', 'status PodRunning']);
  } finally {
    (report as { worker: string }).worker = reportsBefore;
  }
  log.length = 0;
  await r.reconcile('n/front');
  // A restored session's first Connected is routine: the status says it, no Event.
  expect(log).toEqual(['status PodRunning']);
});

test('every phase change is an Event but the steps of a routine start-up', () => {
  // A routine start-up, from a new channel or a restart: no Event.
  expect(announcesPhase(undefined, 'Pending')).toBe(false);
  expect(announcesPhase(undefined, undefined)).toBe(false);
  expect(announcesPhase(undefined, 'Connected')).toBe(false);
  expect(announcesPhase('Pending', 'Connecting')).toBe(false);
  expect(announcesPhase('Pending', 'Connected')).toBe(false);
  expect(announcesPhase('Connecting', 'Connected')).toBe(false);
  expect(announcesPhase('Pending', 'Pending')).toBe(false);
  // Leaving the path, a person's turn, a pairing, a recovery, a restart: an Event.
  expect(announcesPhase(undefined, 'Error')).toBe(true);
  expect(announcesPhase(undefined, 'QRRequired')).toBe(true);
  expect(announcesPhase('Connecting', 'QRRequired')).toBe(true);
  expect(announcesPhase('Pairing', 'Connected')).toBe(true);
  expect(announcesPhase('QRRequired', 'Connected')).toBe(true);
  expect(announcesPhase('Disconnected', 'Connected')).toBe(true);
  expect(announcesPhase('Error', 'Connecting')).toBe(true);
  expect(announcesPhase('Connected', 'Disconnected')).toBe(true);
  expect(announcesPhase('Connected', 'Pending')).toBe(true);
  expect(announcesPhase('Suspended', 'Pending')).toBe(true);
  expect(announcesPhase('Connected', 'Suspended')).toBe(true);
});

test('a refused start shows in the status once, written by the reconcile (the worker step writes no status)', async () => {
  workers.refuse = 'exceeded quota: pods=10';
  const r = reconciler();
  await expect(r.reconcile('n/front')).rejects.toThrow('cannot create the worker pod: exceeded quota');
  await expect(r.reconcile('n/front')).rejects.toThrow('exceeded quota');
  expect(log).toEqual([
    `finalizers ${FINALIZER}`,
    'start refused',
    'status PodCreateFailed',
    'event Error',
    'start refused',
  ]);
});

test('Logout: log out through the running worker, stop it, erase, let go; each step recorded before the next, so a new reconciler carries on', async () => {
  const r = reconciler();
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  log.length = 0;
  store.channel = {
    ...store.channel!,
    metadata: { ...store.channel!.metadata, deletionTimestamp: new Date().toISOString() },
  };
  await r.reconcile('n/front');
  // A leader change: a reconciler with nothing in memory takes over from here.
  const next = reconciler();
  await next.reconcile('n/front');
  workers.worker = undefined; // the worker has exited
  await next.reconcile('n/front');
  await next.reconcile('n/front');
  expect(store.channel).toBeUndefined();
  expect(log).toEqual([
    'logout',
    'event LoggedOut',
    `annotate {"${PROGRESS_ANNOTATIONS.logout}":"done"}`,
    'stop',
    'erase',
    `annotate {"${PROGRESS_ANNOTATIONS.erase}":"done"}`,
    'finalizers -',
  ]);
});

test('Logout whose reply was lost: the worker reported the device logged out meanwhile, so the step is done, not failed', async () => {
  const r = reconciler();
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  log.length = 0;
  // The worker logs out, but its reply comes after the operator's timeout.
  deletion.logout = async () => {
    log.push('logout');
    loggedOutReported = true; // its LoggedOutByCommand status report arrives
    return { done: false, skipped: false, message: 'logout request failed: no reply within 1000 ms' };
  };
  store.channel = {
    ...store.channel!,
    metadata: { ...store.channel!.metadata, deletionTimestamp: new Date().toISOString() },
  };
  await r.reconcile('n/front');
  expect(log).toEqual(['logout', 'event LoggedOut', `annotate {"${PROGRESS_ANNOTATIONS.logout}":"done"}`]);
});

test('Logout after the device was already logged out by a command: nothing is asked, the step is done', async () => {
  const r = reconciler();
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  log.length = 0;
  loggedOutReported = true;
  store.channel = {
    ...store.channel!,
    metadata: { ...store.channel!.metadata, deletionTimestamp: new Date().toISOString() },
  };
  await r.reconcile('n/front');
  expect(log).toEqual(['event LoggedOut', `annotate {"${PROGRESS_ANNOTATIONS.logout}":"done"}`]);
});

test('a spec change replaces the worker, and the new one is announced as replaced', async () => {
  const r = reconciler();
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  log.length = 0;
  workers.desiredSpecHash = () => 'h2';
  await r.reconcile('n/front');
  workers.worker = undefined;
  await r.reconcile('n/front');
  expect(log.slice(0, 5)).toEqual([
    `annotate {"${PROGRESS_ANNOTATIONS.replacing}":"h1"}`,
    'stop',
    'event PodReplacing',
    'start',
    `annotate {"${PROGRESS_ANNOTATIONS.replacing}":null}`,
  ]);
  expect(log).toContain('event PodReplaced');
  expect(log).not.toContain('event PodRecreated');
});

test('a channel asking for an image the platform does not allow gets no worker, and Ready says why', async () => {
  const r = reconciler({ workerPolicy: noEvilImage });
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  expect(log).toEqual([`finalizers ${FINALIZER}`, 'start', 'status PodRunning']);
  // The spec now asks for a foreign image: the running worker goes, and none comes back.
  store.channel = { ...store.channel!, spec: { ...store.channel!.spec, worker: { image: 'evil:1' } } };
  log.length = 0;
  await r.reconcile('n/front');
  workers.worker = undefined; // the runtime shows it gone
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  expect(log).toEqual(['stop', 'status ImageNotAllowed', 'event Error']);
  const ready = store.channel!.status!.conditions!.find((c) => c.type === 'Ready')!;
  expect(ready).toMatchObject({ status: 'False', reason: 'ImageNotAllowed', message: 'not allowed' });
  expect(store.channel!.status!.conditions!.find((c) => c.type === 'Stalled')!.status).toBe('True');
});

test('a channel refused its image is issued no NATS credentials; an allowed one is', async () => {
  const credentials = {
    ensure: async (c: WhatsAppChannel) => {
      log.push(`credentials ${c.spec.worker?.image ?? 'default'}`);
      return 60_000;
    },
    forget: () => {},
  };
  const r = reconciler({ credentials, workerPolicy: noEvilImage });
  store.channel = { ...store.channel!, spec: { ...store.channel!.spec, worker: { image: 'evil:1' } } };
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  expect(log.filter((l) => l.startsWith('credentials'))).toEqual([]);
  expect(log).not.toContain('start');
  store.channel = { ...store.channel!, spec: { ...store.channel!.spec, worker: { image: 'good:1' } } };
  await r.reconcile('n/front');
  expect(log).toContain('credentials good:1');
});

/** An older channel of another name with the same clinicId/channelId: it owns the identity. */
const olderOwner = (): WhatsAppChannel => ({
  ...store.channel!,
  metadata: { name: 'owner', namespace: 'm', uid: 'u0', creationTimestamp: '2026-01-01T00:00:00Z' },
});

test('a duplicate of an older channel: its worker is stopped, and the status names the owner', async () => {
  store.channel!.metadata.creationTimestamp = '2026-01-02T00:00:00Z';
  const r = reconciler();
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  log.length = 0;
  store.others = [olderOwner()];
  await r.reconcile('n/front'); // stops the running worker
  await r.reconcile('n/front'); // it is stopping: no second stop; the status says why
  workers.worker = undefined;
  await r.reconcile('n/front'); // gone: no new worker, and no second Event
  expect(log).toEqual([
    'stop',
    'event DuplicateChannel',
    'status DuplicateChannel',
    'event Error',
    'status DuplicateChannel', // status.workerPod is gone
  ]);
  const ready = store.channel!.status!.conditions!.find((c) => c.type === 'Ready')!;
  expect(ready).toMatchObject({ status: 'False', reason: 'DuplicateChannel' });
  expect(ready.message).toContain('m/owner');
});

test('the owner gone, the duplicate (next in line) starts its worker', async () => {
  store.channel!.metadata.creationTimestamp = '2026-01-02T00:00:00Z';
  store.others = [olderOwner()];
  const r = reconciler();
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  expect(log).not.toContain('start');
  store.others = [];
  await r.reconcile('n/front');
  expect(log).toContain('start');
});

test("deleting a duplicate with deletionPolicy Logout never logs out or erases the owner's session", async () => {
  store.channel!.metadata.creationTimestamp = '2026-01-02T00:00:00Z';
  store.others = [olderOwner()];
  const r = reconciler();
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  log.length = 0;
  store.channel = {
    ...store.channel!,
    metadata: { ...store.channel!.metadata, deletionTimestamp: new Date().toISOString() },
  };
  await r.reconcile('n/front');
  // Even if the owner goes meanwhile, the decision recorded stands.
  store.others = [];
  for (let i = 0; i < 3; i++) await r.reconcile('n/front');
  expect(store.channel).toBeUndefined();
  expect(log).toEqual([
    `annotate {"${PROGRESS_ANNOTATIONS.logout}":"skipped","${PROGRESS_ANNOTATIONS.erase}":"skipped"}`,
    'event DeletionPolicyRetained',
    'finalizers -',
  ]);
});

describe('a rollout of a worker change (rollout-gate.ts)', () => {
  const policy: RolloutPolicy = {
    maxUnavailable: { count: 5 },
    maxUnavailablePerClinic: { percent: 100 },
    clinicMaxUnavailable: {},
    canary: 0,
    maxFailed: { count: 0 },
    healthTimeoutMs: 60_000,
  };
  /** Another channel of the fleet, failed in the rollout of revision r2. */
  const failedNeighbour = {
    apiVersion: 'whatsapp.clinic.dev/v1alpha1',
    kind: 'WhatsAppChannel',
    metadata: {
      name: 'back-office',
      namespace: 'n',
      labels: { [ROLLOUT_LABEL]: 'failed' },
      annotations: {
        [ROLLOUT_ANNOTATION]: JSON.stringify({ revision: 'r2', since: new Date().toISOString() }),
      },
    },
    spec: { clinicId: 'a', channelId: 'back-office' },
  } as WhatsAppChannel;
  const gate = (others: WhatsAppChannel[]) =>
    new RolloutGate({
      policy,
      revision: 'r2',
      channels: () => [store.channel!, ...others],
      store,
      wake: () => {},
      logger: pino({ level: 'silent' }),
    });

  test("the operator's change waits while the rollout is halted; a change to the channel's own spec goes at once", async () => {
    const r = reconciler({ rollout: gate([failedNeighbour]) });
    for (let i = 0; i < 3; i++) await r.reconcile('n/front');
    log.length = 0;
    workers.desiredSpecHash = () => 'h2'; // new operator settings, same channel generation
    expect(await r.reconcile('n/front')).toEqual({ requeueAfterMs: 60_000 });
    expect(log).toEqual([]);
    expect(workers.worker!.activity).toBe('running');
    // Its owner changes the channel: a new generation, replaced at once, halt or not.
    store.channel = { ...store.channel!, metadata: { ...store.channel!.metadata, generation: 2 } };
    await r.reconcile('n/front');
    expect(log).toEqual([
      `annotate {"${PROGRESS_ANNOTATIONS.replacing}":"h1"}`,
      'stop',
      'event PodReplacing',
    ]);
  });

  test('admitted: marked replacing in the same write as the progress, then done once Connected on the new worker', async () => {
    const r = reconciler({ rollout: gate([]) });
    for (let i = 0; i < 3; i++) await r.reconcile('n/front');
    log.length = 0;
    workers.desiredSpecHash = () => 'h2';
    await r.reconcile('n/front');
    // One write: the progress annotation and the rollout's mark (label + annotation).
    expect(log[0]).toContain(`"${PROGRESS_ANNOTATIONS.replacing}":"h1"`);
    expect(log[0]).toContain(`labels {"${ROLLOUT_LABEL}":"replacing"}`);
    expect(log[1]).toBe('stop');
    expect(JSON.parse(store.channel!.metadata.annotations![ROLLOUT_ANNOTATION]!)).toMatchObject({
      revision: 'r2',
      from: 'Connected',
    });
    workers.worker = undefined; // the old worker is gone
    await r.reconcile('n/front'); // the new one starts
    await r.reconcile('n/front'); // it reports Connected: back
    expect(store.channel!.metadata.labels![ROLLOUT_LABEL]).toBe('done');
  });
});
