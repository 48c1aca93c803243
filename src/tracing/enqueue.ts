/**
 * Enqueue side: the trace context active when a message is enqueued is stored in its headers
 * (whatever the registered propagator writes: W3C traceparent/tracestate by default), so the
 * relay can continue the trace when it publishes, possibly hours later in another process.
 */
import { context, isSpanContextValid, propagation, trace } from '@opentelemetry/api';

/**
 * The headers the registered propagator writes for the active context, or undefined when no
 * valid span is active (one lookup, no allocation) or the propagator writes nothing. Never
 * throws: a broken custom propagator costs the trace, never the enqueue.
 */
export function activeTraceHeaders(): Readonly<Record<string, string>> | undefined {
  try {
    return injectActive();
  } catch {
    return undefined;
  }
}

function injectActive(): Readonly<Record<string, string>> | undefined {
  const active = context.active();
  const spanContext = trace.getSpan(active)?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier, {
    set(target, key, value) {
      if (typeof value === 'string') target[key] = value;
    },
  });
  for (const _ in carrier) return carrier;
  return undefined;
}

/** The headers with the trace headers added; a header the message already has is kept as it is. */
export function addTraceHeaders(
  headers: Readonly<Record<string, string>>,
  trace: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  let merged: Record<string, string> | undefined;
  for (const name of Object.keys(trace)) {
    if (Object.hasOwn(headers, name)) continue;
    merged ??= { ...headers };
    merged[name] = trace[name] as string;
  }
  return merged ?? headers;
}
