import { redactText } from '../redact.js';

/** A failed demo: what went wrong (credentials redacted), and what to do about it. */
export class DemoError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(redactText(message), options);
    this.name = 'DemoError';
  }
}
