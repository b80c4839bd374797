/** Reads a comma-separated binding ("a, b,c") as a list, without empty entries. */
export function commaSeparated(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/**
 * Reads a numeric binding. Vars arrive as strings (or numbers, from TOML); a
 * missing, non-numeric or non-positive value falls back to the default rather
 * than silently disabling what it configures.
 */
export function positiveInteger(value: unknown, fallback: number): number {
  const parsed = typeof value === "number" ? value : Number(String(value ?? "").trim() || Number.NaN);
  return Number.isSafeInteger(parsed) && parsed > 0 ? parsed : fallback;
}
