export { createMemoryTransport } from './memory-transport.js';
export type { MemoryTransport } from './memory-transport.js';
