import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import fengari from 'fengari';
import type { Phase, StatusEvent, WhatsAppChannel } from '../../../contract/index.ts';
import { observePod } from '../../../operator/src/controller/pod-observation.ts';
import { desiredStatus } from '../../../operator/src/controller/status.ts';
import { repoRoot } from '../../harness/paths.ts';

/**
 * deploy/argocd/whatsappchannel-health.lua, run in a Lua VM (fengari) as Argo CD runs it
 * (`obj` global, returns {status, message}), against statuses computed by the operator's own
 * status function, so a change of conditions or phases there shows up here.
 */
const { lua, lauxlib, lualib, to_luastring } = fengari;
const script = await readFile(join(repoRoot, 'deploy/argocd/whatsappchannel-health.lua'), 'utf8');

/** A JSON value as a Lua table constructor (nulls dropped, as Argo CD's conversion does). */
function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(',')}}`;
  const fields = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `[${JSON.stringify(k)}]=${luaLiteral(v)}`);
  return `{${fields.join(',')}}`;
}

function health(obj: unknown): { status: string; message: string } {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  const source = `obj = ${luaLiteral(JSON.parse(JSON.stringify(obj)))}\n`;
  if (lauxlib.luaL_dostring(L, to_luastring(source)) !== lua.LUA_OK) throw new Error('bad test object');
  if (
    lauxlib.luaL_loadstring(L, to_luastring(script)) !== lua.LUA_OK ||
    lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK
  )
    throw new Error(`the health script failed: ${lua.lua_tojsstring(L, -1)}`);
  lua.lua_getfield(L, -1, to_luastring('status'));
  const status = lua.lua_tojsstring(L, -1);
  lua.lua_getfield(L, -2, to_luastring('message'));
  return { status, message: lua.lua_tojsstring(L, -1) };
}

const channel = (extra: Partial<WhatsAppChannel['spec']> = {}): WhatsAppChannel => ({
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: { name: 'front-desk', namespace: 'clinic-a', uid: 'u1', generation: 2 },
  spec: { clinicId: 'clinic-a', channelId: 'front-desk', ...extra },
});
const pod: V1Pod = {
  metadata: { name: 'wa-front-desk', uid: 'p1', namespace: 'clinic-a' },
  status: {
    phase: 'Running',
    containerStatuses: [
      { name: 'worker', ready: true, restartCount: 0, image: 'w', imageID: '', state: { running: {} } },
    ],
  },
};
const report = (phase: Phase, reason?: string): StatusEvent => ({
  v: 1,
  clinicId: 'clinic-a',
  channelId: 'front-desk',
  worker: 'wa-front-desk_p1',
  phase,
  reconnects: 0,
  degraded: false,
  at: '2026-01-01T00:00:00.000Z',
  seq: 1,
  ...(reason ? { reason } : {}),
});
/** The channel as the API server would serve it, with the status the operator computes. */
const observed = (o: { spec?: Partial<WhatsAppChannel['spec']>; pod?: V1Pod; report?: StatusEvent }) => {
  const c = channel(o.spec);
  return {
    ...c,
    status: desiredStatus({
      channel: c,
      worker: o.pod && observePod(o.pod),
      report: o.report,
      now: '2026-01-01T00:00:01.000Z',
    }),
  };
};

test.each([
  ['connected', 'Healthy', observed({ pod, report: report('Connected') })],
  ['waiting for a QR scan', 'Suspended', observed({ pod, report: report('QRRequired') })],
  ['waiting for a pairing code', 'Suspended', observed({ pod, report: report('Pairing') })],
  ['suspended by its spec', 'Suspended', observed({ spec: { suspend: true } })],
  ['logged out (Error)', 'Degraded', observed({ pod, report: report('Error', 'LoggedOut') })],
  [
    'in a crash loop',
    'Degraded',
    observed({
      pod: {
        ...pod,
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'worker',
              ready: false,
              restartCount: 5,
              image: 'w',
              imageID: '',
              state: { waiting: { reason: 'CrashLoopBackOff' } },
            },
          ],
        },
      },
    }),
  ],
  ['reconnecting', 'Progressing', observed({ pod, report: report('Disconnected', 'ConnectionLost') })],
  ['connecting', 'Progressing', observed({ pod, report: report('Connecting') })],
  ['without a pod yet', 'Progressing', observed({})],
])('%s → %s', (_, expected, obj) => {
  expect(health(obj).status).toBe(expected);
});

test('a status written for an older generation, or none at all, is Progressing whatever it says', () => {
  const stale = observed({ pod, report: report('Connected') });
  expect(health(stale).status).toBe('Healthy');
  expect(health({ ...stale, metadata: { ...stale.metadata, generation: 3 } }).status).toBe('Progressing');
  expect(health(channel())).toEqual({ status: 'Progressing', message: 'Waiting for the operator' });
});

test('the message names the phase and the reason', () => {
  const { message } = health(observed({ pod, report: report('Error', 'Banned') }));
  expect(message).toContain('phase Error');
  expect(message).toContain('Banned');
});
