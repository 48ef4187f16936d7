import { describe, expect, test } from '@jest/globals';
import { quantityValue, workerResources } from '../../../operator/src/worker-resources.ts';

const defaults = { requests: { cpu: '50m', memory: '192Mi' }, limits: { memory: '384Mi' } };

describe('worker resources', () => {
  test('quantities in every notation Kubernetes takes', () => {
    expect(quantityValue('250m')).toBe(0.25);
    expect(quantityValue('192Mi')).toBe(192 * 2 ** 20);
    expect(quantityValue('1.5G')).toBe(1.5e9);
    expect(quantityValue('2e3')).toBe(2000);
    expect(quantityValue('1')).toBe(1);
    expect(quantityValue('lots')).toBeUndefined();
  });

  test('the defaults, when the channel sets nothing', () => {
    expect(workerResources(defaults, undefined)).toEqual(defaults);
  });

  test('a channel limit below the default request lowers that request to the limit', () => {
    const r = workerResources(defaults, { limits: { memory: '64Mi', cpu: '20m' } });
    expect(r.limits).toEqual({ memory: '64Mi', cpu: '20m' });
    expect(r.requests).toEqual({ memory: '64Mi', cpu: '20m' });
  });

  test('a channel limit above the default request leaves the request alone', () => {
    const r = workerResources(defaults, { limits: { memory: '1Gi' } });
    expect(r.requests).toEqual(defaults.requests);
  });

  test("the channel's own request is never changed, even above its limit (the API server names that mistake)", () => {
    const r = workerResources(defaults, { requests: { memory: '256Mi' }, limits: { memory: '128Mi' } });
    expect(r.requests!.memory).toBe('256Mi');
  });
});
