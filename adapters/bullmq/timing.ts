/** Waiting helpers: the adapters' shared ones. */
export * from '../shared/timing.js';
