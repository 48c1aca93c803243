export { TRACER_NAME, TRACER_VERSION } from './tracer.js';
export { activeTraceHeaders } from './enqueue.js';
