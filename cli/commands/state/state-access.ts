/**
 * What the `wa state` commands reach, and how a person names a channel to them: S3 (the
 * workers' state bucket), KMS (the data keys) and the Kubernetes API (a channel's resource, to
 * find its clinic, channel and storage, and to suspend it). Credentials come from the usual
 * chains: the AWS SDK's (environment, profile, role) and the kubeconfig (KUBECONFIG).
 */
import { ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { KMSClientConfig } from '@aws-sdk/client-kms';
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { API_VERSION, isValidToken, KIND, type WhatsAppChannel } from '../../../contract/index.ts';
import { type ChannelStateLocation } from '../../../contract/state-layout.ts';
import { KmsDataKeyProvider } from '../../../worker/src/auth-store/key-provider.ts';
import { S3ObjectStore } from '../../../worker/src/auth-store/object-store.ts';
import { CliError } from '../../connection.ts';

export interface StateAccessOptions {
  s3Bucket?: string;
  s3Prefix: string;
  s3Region: string;
  s3Endpoint?: string;
  kmsRegion?: string;
  kmsEndpoint?: string;
  kubeconfig?: string;
}

/** A channel's stored state: where it is, and the resource it belongs to when named by one. */
export interface ChannelTarget extends ChannelStateLocation {
  bucket: string;
  resource?: { namespace: string; name: string };
}

/** A Kubernetes object name (DNS subdomain), as `kubectl` accepts it. */
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `<namespace>/<name>` of a WhatsAppChannel resource. */
export function parseResourceName(text: string): { namespace: string; name: string } {
  const [namespace, name, ...rest] = text.split('/');
  if (rest.length > 0 || !namespace || !name || !K8S_NAME.test(namespace) || !K8S_NAME.test(name))
    throw new CliError(
      `"${text}" is not <namespace>/<channel>: the channel's resource, as kubectl names it`,
      2,
    );
  return { namespace, name };
}

export class StateAccess {
  readonly options: StateAccessOptions;
  private readonly s3Config: S3ClientConfig;
  private readonly kmsConfig: KMSClientConfig;
  private readonly stores = new Map<string, S3ObjectStore>();
  private s3Client: S3Client | undefined;
  private keyProvider: KmsDataKeyProvider | undefined;
  private kubeApi: KubernetesObjectApi | undefined;

  constructor(options: StateAccessOptions) {
    this.options = options;
    this.s3Config = {
      region: options.s3Region,
      maxAttempts: 2,
      ...(options.s3Endpoint ? { endpoint: options.s3Endpoint, forcePathStyle: true } : {}),
    };
    this.kmsConfig = {
      region: options.kmsRegion ?? options.s3Region,
      ...(options.kmsEndpoint ? { endpoint: options.kmsEndpoint } : {}),
    };
  }

  /** The worker's own S3 object store, on `bucket`. */
  store(bucket: string): S3ObjectStore {
    let store = this.stores.get(bucket);
    if (!store) this.stores.set(bucket, (store = new S3ObjectStore(bucket, this.s3Config)));
    return store;
  }

  /** A plain S3 client, for what the worker never does: object versions, copies. */
  get s3(): S3Client {
    return (this.s3Client ??= new S3Client(this.s3Config));
  }

  /** The worker's KMS provider; it never makes a data key here, so it names no key of its own. */
  get kms(): KmsDataKeyProvider {
    return (this.keyProvider ??= new KmsDataKeyProvider('', this.kmsConfig));
  }

  get kube(): KubernetesObjectApi {
    if (!this.kubeApi) {
      const kc = new KubeConfig();
      if (this.options.kubeconfig) kc.loadFromFile(this.options.kubeconfig);
      else kc.loadFromDefault();
      this.kubeApi = KubernetesObjectApi.makeApiClient(kc);
    }
    return this.kubeApi;
  }

  /** The channel resource `<namespace>/<name>`, read from the API server. */
  async resource(text: string): Promise<WhatsAppChannel> {
    const { namespace, name } = parseResourceName(text);
    try {
      return (await this.kube.read({
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name, namespace },
      })) as unknown as WhatsAppChannel;
    } catch (err) {
      if ((err as { code?: number }).code === 404)
        throw new CliError(`no WhatsAppChannel ${name} in namespace ${namespace}`);
      throw new CliError(`cannot read WhatsAppChannel ${namespace}/${name}: ${(err as Error).message}`);
    }
  }

  /** Where a channel resource keeps its state: its own storage settings, else the workers' defaults. */
  async channel(text: string): Promise<ChannelTarget> {
    const channel = await this.resource(text);
    const storage = channel.spec.storage ?? {};
    const bucket = storage.bucket ?? this.options.s3Bucket;
    if (!bucket)
      throw new CliError(`${text} names no bucket of its own: give the workers' bucket with --s3-bucket`, 2);
    return {
      bucket,
      prefix: (storage.prefix ?? this.options.s3Prefix).replace(/^\/+|\/+$/g, ''),
      clinicId: channel.spec.clinicId,
      channelId: channel.spec.channelId,
      resource: { namespace: channel.metadata!.namespace!, name: channel.metadata!.name! },
    };
  }

  /**
   * Every channel of a clinic with state in the workers' bucket, found by listing
   * `<prefix>/<clinic>/` (so channels whose resource is gone are found too). Channels whose
   * resource sets a bucket or prefix of its own are not there: name them one by one.
   */
  async clinicChannels(clinicId: string): Promise<ChannelTarget[]> {
    if (!isValidToken(clinicId))
      throw new CliError(`"${clinicId}" is not a clinic id: lowercase letters, digits and '-'`, 2);
    const bucket = this.options.s3Bucket;
    if (!bucket) throw new CliError("--clinic needs the workers' bucket: --s3-bucket or WA_S3_BUCKET", 2);
    const prefix = this.options.s3Prefix.replace(/^\/+|\/+$/g, '');
    const clinicPrefix = `${prefix}/${clinicId}/`;
    const channels: ChannelTarget[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: clinicPrefix,
          Delimiter: '/',
          ContinuationToken: token,
        }),
      );
      for (const p of page.CommonPrefixes ?? []) {
        const channelId = p.Prefix!.slice(clinicPrefix.length, -1);
        if (isValidToken(channelId)) channels.push({ bucket, prefix, clinicId, channelId });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return channels;
  }

  /** The channels a command names: one resource, or a whole clinic. */
  async targets(resource: string | undefined, clinic: string | undefined): Promise<ChannelTarget[]> {
    if ((resource === undefined) === (clinic === undefined))
      throw new CliError('name one channel (<namespace>/<channel>) or one clinic (--clinic <clinic>)', 2);
    if (resource !== undefined) return [await this.channel(resource)];
    const channels = await this.clinicChannels(clinic!);
    if (channels.length === 0) throw new CliError(`no stored state of clinic ${clinic} in the bucket`);
    return channels;
  }

  destroy(): void {
    for (const store of this.stores.values()) store.destroy();
    this.s3Client?.destroy();
    this.keyProvider?.destroy();
  }
}

/** `s3://bucket/<prefix>/<clinic>/<channel>/`, for messages. */
export function describeTarget(target: ChannelTarget): string {
  const where = `s3://${target.bucket}/${target.prefix}/${target.clinicId}/${target.channelId}/`;
  return target.resource ? `${target.resource.namespace}/${target.resource.name} (${where})` : where;
}
