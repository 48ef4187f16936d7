/** The shared contract of operator, worker, CLI and clinic backends. See docs/contract.md. */
export * from './tokens.ts';
export * from './subjects.ts';
export * from './resource.ts';
export * from './validate.ts';
export * from './audit.ts';
export * from './nats-servers.ts';
export * from './clinic-stream.ts';
export type * from './generated/payloads.ts';
