/**
 * The one shape of an error log line: `{"level":"error","event":...,"object":...,"name":...,"error":...}`.
 * `object` is the class (or module) that logged, `name` which instance (a Durable Object's name or
 * id), so a line in the logs leads to the one object it came from.
 */
export function logError(
  source: { object: string; name?: string | null },
  event: string,
  error?: unknown,
  details: Record<string, unknown> = {},
): void {
  console.error(
    JSON.stringify({
      level: "error",
      event,
      object: source.object,
      ...(source.name ? { name: source.name } : {}),
      ...details,
      ...(error === undefined
        ? {}
        : { error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    }),
  );
}

/** How a Durable Object names itself in logs: its name when it has one, else its id. */
export function objectSource(object: string, ctx: { id: DurableObjectId }): { object: string; name: string } {
  return { object, name: ctx.id.name ?? ctx.id.toString() };
}
