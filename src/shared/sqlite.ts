/** Which of `names` are tables in the object's SQLite database, in one look at its catalogue. */
export function tablesAmong(sql: SqlStorage, names: readonly string[]): Set<string> {
  const placeholders = names.map(() => "?").join(", ");
  return new Set(
    sql
      .exec<{ name: string }>(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${placeholders})`,
        ...names,
      )
      .toArray()
      .map((r) => r.name),
  );
}

/** Whether the object's SQLite database has table `name` (objects create their tables only once they hold something). */
export function hasTable(sql: SqlStorage, name: string): boolean {
  return tablesAmong(sql, [name]).has(name);
}
