/**
 * kubectl against this test run's API server, as its cluster admin: what tests use to apply
 * manifests and read objects the way a person would.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testStack, type TestStack } from './stack.ts';

const run = promisify(execFile);

export type Kubectl = (...args: string[]) => Promise<{ stdout: string; stderr: string }>;

export function adminKubectl(stack: TestStack = testStack()): Kubectl {
  // Rendered charts and pod lists at bench scale are larger than execFile's default 1 MiB.
  return (...args) =>
    run(stack.bins.kubectl, ['--kubeconfig', stack.kube.kubeconfig, ...args], { maxBuffer: 64 << 20 });
}
