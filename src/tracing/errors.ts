import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { errorCode } from '../errors.js';
import { redactText } from '../redact.js';

/** Marks a span failed with the error, redacted like every error text postbox stores. */
export function failSpan(span: Span, error: Error): void {
  if (!span.isRecording()) return;
  const message = redactText(error.message);
  const code = errorCode(error);
  span.recordException({
    name: error.name,
    message,
    ...(error.stack === undefined ? {} : { stack: redactText(error.stack) }),
    ...(code === undefined ? {} : { code }),
  });
  span.setStatus({ code: SpanStatusCode.ERROR, message: `${error.name}: ${message}` });
}
