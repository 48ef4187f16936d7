/**
 * The WhatsAppChannel resource (group whatsapp.clinic.dev, v1alpha1). Its shape is
 * generated from crds/whatsappchannels.whatsapp.clinic.dev.yaml into
 * generated/whatsapp-channel.ts; the constants here name its enum values.
 */
export type { WhatsAppChannel as WhatsAppChannelSchema } from './generated/whatsapp-channel.ts';
import type { WhatsAppChannel as Generated } from './generated/whatsapp-channel.ts';

export const GROUP = 'whatsapp.clinic.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'WhatsAppChannel';
export const PLURAL = 'whatsappchannels';
export const CRD_NAME = `${PLURAL}.${GROUP}`;

export type WhatsAppChannelSpec = Generated['spec'];
export type WhatsAppChannelStatus = NonNullable<Generated['status']>;
export type Condition = NonNullable<WhatsAppChannelStatus['conditions']>[number];

/** A WhatsAppChannel as the API server returns it. */
export interface WhatsAppChannel {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: WhatsAppChannelSpec;
  status?: WhatsAppChannelStatus;
}

export const PHASES = [
  'Pending',
  'Connecting',
  'QRRequired',
  'Pairing',
  'Connected',
  'Disconnected',
  'Error',
  'Suspended',
] as const;
export type Phase = (typeof PHASES)[number];

/**
 * The worker's status reason once a `logout` command unlinked its device. The operator reads it
 * too: a deletion whose logout reply was lost learns from it that the logout happened.
 */
export const LOGGED_OUT_BY_COMMAND = 'LoggedOutByCommand';

export const CONDITION_TYPES = {
  ready: 'Ready',
  paired: 'Paired',
  workerRunning: 'WorkerRunning',
  /** kstatus/Flux: work in progress. */
  reconciling: 'Reconciling',
  /** kstatus/Flux: cannot make progress without a human. */
  stalled: 'Stalled',
  /** WhatsApp refused the channel's sends for rate; it sends below its policy until it recovers. */
  rateLimited: 'RateLimited',
  /** The operator points workers at the protocol simulator, not WhatsApp (tests and demos). */
  testEndpoint: 'TestEndpoint',
} as const;
export type ConditionType = (typeof CONDITION_TYPES)[keyof typeof CONDITION_TYPES];

export const DELETION_POLICIES = ['Retain', 'Logout'] as const;
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];

export const PAIRING_MODES = ['qr', 'code'] as const;
export type PairingMode = (typeof PAIRING_MODES)[number];

/** Labels on every object the operator makes for a channel. */
export const LABELS = {
  clinic: 'whatsapp.clinic.dev/clinic',
  channel: 'whatsapp.clinic.dev/channel',
  managedBy: 'app.kubernetes.io/managed-by',
  component: 'app.kubernetes.io/component',
} as const;

export const FINALIZER = 'whatsapp.clinic.dev/deletion-policy';
