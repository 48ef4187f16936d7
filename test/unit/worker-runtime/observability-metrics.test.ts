import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { bootstrapNatsTrust } from '../../../operator/src/nats/credentials-bootstrap.ts';
import { NatsCredentialIssuer } from '../../../operator/src/nats/credentials-issuer.ts';
import { credentialExpiries, natsCredsExpiry } from '../../../worker/src/ops/credential-expiry.ts';
import { createMetrics, setPhase } from '../../../worker/src/ops/metrics.ts';
import { PhaseClock } from '../../../worker/src/ops/phase-clock.ts';

/**
 * The worker metrics behind the SLA and credential-expiry alerts: seconds per phase (the
 * connected time), and the expiry of the NATS credential the operator issues.
 */
/** A metric's values by its one own label (phase or credential; the default labels left out). */
async function values(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name)!;
  return Object.fromEntries(
    metric.values.map((v) => [String(v.labels['phase'] ?? v.labels['credential']), v.value]),
  );
}

describe('phase clock', () => {
  test('adds the time spent in each phase, at phase changes and at each flush', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 't_phase_seconds_total',
      help: 'h',
      labelNames: ['phase'],
      registers: [registry],
    });
    let now = 1_000;
    const clock = new PhaseClock(counter, () => now);
    now += 5_000; // before the first phase: counted nowhere
    clock.enter('Connecting');
    now += 2_000;
    clock.enter('Connected');
    now += 30_000;
    clock.flush();
    expect(await values(registry, 't_phase_seconds_total')).toEqual({ Connecting: 2, Connected: 30 });
    now += 10_000;
    clock.enter('Connected'); // the same phase again changes nothing
    now += 5_000;
    clock.enter('Disconnected');
    expect(await values(registry, 't_phase_seconds_total')).toEqual({ Connecting: 2, Connected: 45 });
  });

  test('a scrape brings the connected time up to date while the phase stays', async () => {
    const metrics = createMetrics({ clinic: 'c', channel: 'main' });
    setPhase(metrics, 'Connected');
    await new Promise((r) => setTimeout(r, 50));
    const first = (await values(metrics.registry, 'wa_worker_phase_seconds_total'))['Connected']!;
    expect(first).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50));
    const second = (await values(metrics.registry, 'wa_worker_phase_seconds_total'))['Connected']!;
    expect(second).toBeGreaterThan(first);
  });
});

describe('credential expiry', () => {
  test('reads the exp claim of a creds file the operator issues', async () => {
    const issuer = new NatsCredentialIssuer((await bootstrapNatsTrust()).issuerKeys);
    const now = new Date('2026-12-01T00:00:00Z');
    const issued = await issuer.issueWorker('clinic-a', 'main', 3_600, now);
    expect(natsCredsExpiry(issued.creds)).toBe(now.getTime() / 1000 + 3_600);
  });

  test('a creds file without a JWT, or a JWT without exp, has no expiry', () => {
    expect(natsCredsExpiry('')).toBeUndefined();
    const payload = Buffer.from(JSON.stringify({ sub: 'U' })).toString('base64url');
    expect(
      natsCredsExpiry(`-----BEGIN NATS USER JWT-----\nxx.${payload}.yy\n------END NATS USER JWT------\n`),
    ).toBeUndefined();
  });

  test('the gauge reports the file as it is at each scrape, and static AWS session credentials', async () => {
    const issuer = new NatsCredentialIssuer((await bootstrapNatsTrust()).issuerKeys);
    const file = join(await mkdtemp(join(tmpdir(), 'creds-')), 'user.creds');
    const metrics = createMetrics(
      { clinic: 'c', channel: 'main' },
      { natsCredsFile: file, awsEnvExpiration: '2026-12-24T10:00:00Z' },
    );
    // No file yet: only the AWS expiry.
    expect(await values(metrics.registry, 'wa_worker_credential_expiry_timestamp_seconds')).toEqual({
      'aws-env': Date.parse('2026-12-24T10:00:00Z') / 1000,
    });
    await writeFile(file, (await issuer.issueWorker('c', 'main', 600, new Date(1_000_000_000))).creds);
    expect((await values(metrics.registry, 'wa_worker_credential_expiry_timestamp_seconds'))['nats']).toBe(
      1_000_600,
    );
    // The kubelet swaps in a renewed file.
    await writeFile(file, (await issuer.issueWorker('c', 'main', 600, new Date(2_000_000_000))).creds);
    expect((await values(metrics.registry, 'wa_worker_credential_expiry_timestamp_seconds'))['nats']).toBe(
      2_000_600,
    );
  });

  test('an unparseable AWS_CREDENTIAL_EXPIRATION is left out', async () => {
    expect([...(await credentialExpiries({ awsEnvExpiration: 'soon' }))]).toEqual([]);
  });
});
