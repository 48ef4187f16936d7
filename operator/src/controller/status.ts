/**
 * The channel's status as a pure function of what the operator sees: the channel, a neutral
 * observation of its worker (a pod or a local process: ports.ts), the worker's last report and
 * the operator's own last failure. Conditions keep
 * their lastTransitionTime while their status does not change, so an unchanged world
 * gives an identical status, and nothing is written.
 *
 * Conditions (docs/operator.md lists every reason and what to do):
 * - WorkerRunning: the worker exists and runs (from its runtime, or a report of that worker).
 * - Paired: a WhatsApp account is linked (from the worker's reports).
 * - Ready: the session is connected and the pod runs. Ready's reason is the first cause.
 * - Reconciling / Stalled: for kstatus (Flux, `kubectl wait`, cli-utils). Reconciling is
 *   True while things are still moving by themselves; Stalled is True when they will not
 *   move without a person. Waiting for a QR scan is neither: the apply succeeded.
 */
import {
  CONDITION_TYPES,
  LOGGED_OUT_BY_COMMAND,
  type Condition,
  type Phase,
  type StatusEvent,
  type WhatsAppChannel,
  type WhatsAppChannelStatus,
} from '../../../contract/index.ts';
import type { WorkerObservation } from './ports.ts';

export interface Observed {
  channel: WhatsAppChannel;
  /** The channel's current worker (possibly stopping), if any, as its runtime sees it. */
  worker: WorkerObservation | undefined;
  /** The latest report of that worker, if any. */
  report: StatusEvent | undefined;
  /** Why the last start of the worker was refused (quota, PodSecurity…), if it was. */
  startError?: string | undefined;
  /** While the channel is being deleted: which step runs, and why it fails, if it does. */
  deletion?: DeletionProgress | undefined;
  /** The channel may not have a worker (its identity, its image…): it gets none until a person acts. */
  blocked?: { reason: string; message: string } | undefined;
  /** The simulator endpoint the operator points every worker at (tests only), if any. */
  testEndpoint?: string | undefined;
  now: string;
}

export interface DeletionProgress {
  reason: string;
  message: string;
  failing: boolean;
}

type Cond = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/** Worker reasons (docs/worker.md) that mean the device is no longer linked. */
const UNLINKED_REASONS = new Set(['LoggedOut', LOGGED_OUT_BY_COMMAND, 'MultideviceMismatch']);

interface WorkerState {
  running: boolean;
  reason: string;
  message: string;
  /** Needs a person (bad image, crash loop, quota, cannot be scheduled). */
  stuck: boolean;
}

/**
 * The WorkerRunning condition from the neutral observation. Reasons keep their `Pod…` names in
 * both runtimes: they are part of the resource's API (docs/operator.md lists them).
 */
function workerState(o: Observed): WorkerState {
  const { channel, worker, report } = o;
  const no = (reason: string, message: string, stuck = false) => ({ running: false, reason, message, stuck });
  if (channel.spec.suspend) return no('Suspended', 'spec.suspend is true: the worker pod is removed');
  if (o.blocked) return no(o.blocked.reason, o.blocked.message, true);
  if (o.startError) return no('PodCreateFailed', `the worker pod cannot be created: ${o.startError}`, true);
  if (!worker) return no('PodMissing', 'the worker pod is being created');
  const { label } = worker;
  switch (worker.activity) {
    case 'stopping':
      return no('PodTerminating', `${label} is stopping`);
    case 'failing':
      return no(worker.reason ?? 'WorkerFailing', worker.message ?? `${label} keeps failing`, true);
    case 'ended':
      return no('PodFailed', `${label} ended (${worker.reason ?? 'Failed'}); it is being replaced`);
    default:
  }
  if (worker.activity === 'running' || report)
    return { running: true, reason: 'PodRunning', message: `${label} is running`, stuck: false };
  const waiting = worker.reason;
  return no(waiting ?? 'PodPending', `${label} has not started yet${waiting ? ` (${waiting})` : ''}`);
}

function phaseOf(o: Observed, worker: WorkerState): Phase {
  if (o.channel.spec.suspend) return 'Suspended';
  if (worker.stuck) return 'Error';
  if (worker.running && o.report) return o.report.phase;
  return 'Pending';
}

function pairedCondition(o: Observed, phase: Phase): Cond {
  const { report, channel } = o;
  const type = CONDITION_TYPES.paired;
  const account = report?.account ?? channel.status?.account;
  if (report?.reason && UNLINKED_REASONS.has(report.reason))
    return {
      type,
      status: 'False',
      reason: report.reason,
      message: 'the device was logged out; it must be paired again',
    };
  if (phase === 'QRRequired')
    return {
      type,
      status: 'False',
      reason: 'AwaitingQRScan',
      message: 'scan the QR code published on the qr subject',
    };
  if (phase === 'Pairing')
    return {
      type,
      status: 'False',
      reason: 'AwaitingPairingCode',
      message: 'enter the pairing code in WhatsApp',
    };
  if (phase === 'Connected' || account)
    return {
      type,
      status: 'True',
      reason: 'Linked',
      message: `linked to ${account ?? 'a WhatsApp account'}`,
    };
  return {
    type,
    status: 'Unknown',
    reason: 'NotYetKnown',
    message: 'the worker has not reported a linked account',
  };
}

function readyCondition(o: Observed, phase: Phase, worker: WorkerState, message: string): Cond {
  const type = CONDITION_TYPES.ready;
  if (o.deletion) return { type, status: 'False', reason: o.deletion.reason, message: o.deletion.message };
  if (phase === 'Connected' && worker.running) {
    const degraded = o.report?.degraded ? ' (degraded: a dependency is failing; see the worker logs)' : '';
    return {
      type,
      status: 'True',
      reason: 'Connected',
      message: `the WhatsApp session is connected${degraded}`,
    };
  }
  if (!worker.running) return { type, status: 'False', reason: worker.reason, message: worker.message };
  return { type, status: 'False', reason: o.report?.reason ?? phase, message };
}

export function desiredStatus(o: Observed): WhatsAppChannelStatus {
  const { channel, report } = o;
  const generation = channel.metadata.generation ?? 0;
  const worker = workerState(o);
  const phase = phaseOf(o, worker);
  const message =
    phase === 'Suspended' || !worker.running
      ? worker.message
      : (report?.message ?? report?.reason ?? `the worker reports ${phase}`);
  const waitingForPerson = phase === 'QRRequired' || phase === 'Pairing';
  const stalled = o.deletion?.failing
    ? { reason: o.deletion.reason, message: o.deletion.message }
    : worker.stuck
      ? { reason: worker.reason, message: worker.message }
      : phase === 'Error'
        ? { reason: report?.reason ?? 'Error', message }
        : undefined;
  const settled = phase === 'Connected' || phase === 'Suspended' || waitingForPerson || stalled !== undefined;

  const conditions: Cond[] = [
    readyCondition(o, phase, worker, message),
    pairedCondition(o, phase),
    {
      type: CONDITION_TYPES.workerRunning,
      status: worker.running ? 'True' : 'False',
      reason: worker.reason,
      message: worker.message,
    },
    o.deletion
      ? { type: CONDITION_TYPES.reconciling, status: 'True', reason: 'Deleting', message: o.deletion.message }
      : settled
        ? { type: CONDITION_TYPES.reconciling, status: 'False', reason: 'Settled', message: `phase ${phase}` }
        : {
            type: CONDITION_TYPES.reconciling,
            status: 'True',
            reason: phase === 'Pending' ? worker.reason : phase,
            message,
          },
    stalled
      ? { type: CONDITION_TYPES.stalled, status: 'True', ...stalled }
      : {
          type: CONDITION_TYPES.stalled,
          status: 'False',
          reason: 'NotStalled',
          message: 'no error that needs a person',
        },
    ...(o.testEndpoint === undefined ? [] : [testEndpointCondition(o.testEndpoint)]),
    ...(report?.pacing && worker.running ? [rateLimitedCondition(report.pacing)] : []),
  ];

  const previous = new Map((channel.status?.conditions ?? []).map((c) => [c.type, c]));
  const status: WhatsAppChannelStatus = {
    phase,
    message: o.deletion?.message ?? message,
    observedGeneration: generation,
    conditions: conditions.map((c) => {
      const before = previous.get(c.type);
      return {
        ...c,
        observedGeneration: generation,
        lastTransitionTime: before && before.status === c.status ? before.lastTransitionTime : o.now,
      };
    }),
  };
  if (o.worker && !channel.spec.suspend) status.workerPod = o.worker.name;
  const account = report?.account ?? channel.status?.account;
  if (account) status.account = account;
  const lastConnected = report?.lastConnectedAt ?? channel.status?.lastConnectedTime;
  if (lastConnected) status.lastConnectedTime = lastConnected;
  status.reconnectCount = report?.reconnects ?? channel.status?.reconnectCount ?? 0;
  // Only the current pod's worker knows which WhatsApp Web version it announces: a replaced pod's
  // version would be stale, so without a live report the field is left out.
  if (report?.waWebVersion) status.waWebVersion = report.waWebVersion;
  return status;
}

/**
 * The worker's send pacing (status.v1 `pacing`): True while WhatsApp's refusals for rate keep the
 * channel below its spec.sendPolicy. Only from a worker that reports pacing (older ones do not).
 */
function rateLimitedCondition(pacing: NonNullable<StatusEvent['pacing']>): Cond {
  const type = CONDITION_TYPES.rateLimited;
  return pacing.throttled
    ? {
        type,
        status: 'True',
        reason: 'WhatsAppRateLimit',
        message:
          `WhatsApp refused sends for rate (rate-overlimit): the channel sends at most ` +
          `${pacing.ratePerMinute} messages a minute and recovers by itself over minutes`,
      }
    : {
        type,
        status: 'False',
        reason: 'WithinPolicy',
        message: `sends are paced by spec.sendPolicy (${pacing.ratePerMinute} a minute)`,
      };
}

/**
 * Shown on every channel while the operator points workers at the protocol simulator, so that
 * no install talks to a test endpoint without seeing it. Absent in production.
 */
function testEndpointCondition(endpoint: string): Cond {
  return {
    type: CONDITION_TYPES.testEndpoint,
    status: 'True',
    reason: 'ProtocolSimulator',
    message:
      `workers connect to the WhatsApp protocol simulator at ${endpoint} and trust its root key, ` +
      `not to WhatsApp: for tests and demos only (operator setting WA_WORKER_SIMULATOR_URL)`,
  };
}

/** Whether writing `next` would change anything (times of unchanged conditions are kept, so deep equality works). */
export function statusDiffers(
  current: WhatsAppChannelStatus | undefined,
  next: WhatsAppChannelStatus,
): boolean {
  return JSON.stringify(normalise(current)) !== JSON.stringify(normalise(next));
}

function normalise(s: WhatsAppChannelStatus | undefined): unknown {
  if (!s) return undefined;
  const sorted: Record<string, unknown> = Object.fromEntries(
    Object.entries(s).sort(([a], [b]) => a.localeCompare(b)),
  );
  sorted.conditions = [...(s.conditions ?? [])]
    .sort((a, b) => a.type.localeCompare(b.type))
    .map((c) => Object.fromEntries(Object.entries(c).sort(([a], [b]) => a.localeCompare(b))));
  return sorted;
}
