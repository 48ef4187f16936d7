// Server processes are started by the product's local-servers module, which local mode uses too.
export { ManagedProcess, httpOk, type StartOptions } from '../../local-servers/managed-process.ts';
