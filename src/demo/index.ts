/** The postbox demo as a module: `postbox demo`, `npm run demo` and tests call runDemo(). */
export { DemoError, runDemo } from './run.js';
export { demoOptionsFromEnv } from './options.js';
export type { DemoBrokerOptions, DemoOptions, DemoResult } from './options.js';
