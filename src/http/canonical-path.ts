import { getPathNoStrict } from "hono/utils/url";

const NAMESPACE = "microsoft.graph.";

/**
 * D23: Graph matches path segments and action names regardless of case, and an
 * action may be named with its namespace (`microsoft.graph.setPresence`). The
 * router sees each segment that spells one of the route table's literal words
 * in the table's own spelling; other segments (ids) reach the handlers as sent,
 * and error messages quote the URL as the caller wrote it. A trailing slash is
 * ignored, as before.
 */
export function canonicalPathGetter(routePaths: readonly string[], actionNames: readonly string[]) {
  const words = new Map<string, string>();
  for (const path of routePaths) {
    for (const segment of path.split("/")) {
      if (segment !== "" && !segment.startsWith(":")) words.set(segment.toLowerCase(), segment);
    }
  }
  const actions = new Map(actionNames.map((name) => [name.toLowerCase(), name]));
  const canonicalSegment = (segment: string): string => {
    const lower = segment.toLowerCase();
    if (lower.startsWith(NAMESPACE)) return actions.get(lower.slice(NAMESPACE.length)) ?? segment;
    return words.get(lower) ?? segment;
  };
  return (request: Request): string => getPathNoStrict(request).split("/").map(canonicalSegment).join("/");
}
