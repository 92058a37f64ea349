import { redactText } from './telemetry/redact';

/** The logging surface domain code needs; InvocationContext and console both fit it. */
export interface Logger {
  /** Routine events (a message waiting for its turn): kept out of the log unless asked for. */
  debug(...args: unknown[]): void;
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/**
 * The logger every handler hands to the code it runs: its lines go to the Functions host's logs and Application
 * Insights, so they never carry a secret from a URL and name mail addresses only by domain unless `keepAddresses`
 * (MAIL_LOG_ADDRESSES). One wrapper at the handler, so no log line anywhere below can forget it.
 */
export function privateLogger(logger: Logger, keepAddresses: boolean): Logger {
  const clean = (args: unknown[]) => args.map((arg) => (typeof arg === 'string' ? redactText(arg, keepAddresses) : arg));
  return {
    debug: (...args) => logger.debug(...clean(args)),
    log: (...args) => logger.log(...clean(args)),
    warn: (...args) => logger.warn(...clean(args)),
    error: (...args) => logger.error(...clean(args)),
  };
}
