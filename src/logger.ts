/** The logging surface domain code needs; InvocationContext and console both fit it. */
export interface Logger {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}
