/** SQLite in Durable Objects binds at most this many values per statement. */
export const MAX_BOUND_VALUES = 100;

/** `count` placeholders for an `IN (...)` list: `?, ?, ?`. */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => "?").join(", ");
}

/**
 * The catalogue query behind `tablesAmong`: the names of the tables among `count` names bound
 * after it. Also a subquery of statements that read it with other things (PresenceStore's start).
 */
export function tablesAmongQuery(count: number): string {
  return `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${placeholders(count)})`;
}

/** Which of `names` are tables in the object's SQLite database, in one look at its catalogue. */
export function tablesAmong(sql: SqlStorage, names: readonly string[]): Set<string> {
  return new Set(
    sql
      .exec<{ name: string }>(tablesAmongQuery(names.length), ...names)
      .toArray()
      .map((r) => r.name),
  );
}

/** Whether the object's SQLite database has table `name` (objects create their tables only once they hold something). */
export function hasTable(sql: SqlStorage, name: string): boolean {
  return tablesAmong(sql, [name]).has(name);
}
