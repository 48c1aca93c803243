/**
 * SIGTERM and SIGINT as long-running commands take them: the first asks for a graceful stop, a
 * second exits at once (exit code 1). Used by `postbox relay`, `postbox demo` and `npm run demo`.
 */
export interface StopSignalHandlers {
  /** The first signal: stop gracefully. */
  first(signal: NodeJS.Signals): void;
  /** A second signal, just before the process exits (to say so). */
  second?(signal: NodeJS.Signals): void;
}

/** Listens from now on; returns the function that stops listening. */
export function onStopSignals(handlers: StopSignalHandlers): () => void {
  let received = 0;
  const listener = (signal: NodeJS.Signals): void => {
    received += 1;
    if (received > 1) {
      handlers.second?.(signal);
      process.exit(1);
    }
    handlers.first(signal);
  };
  process.on('SIGTERM', listener).on('SIGINT', listener);
  return () => {
    process.off('SIGTERM', listener).off('SIGINT', listener);
  };
}
