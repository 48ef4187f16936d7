// Free ports come from the product's local-servers module, which local mode uses too.
export { freePort } from '../../local-servers/free-port.ts';
