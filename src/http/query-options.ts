import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";
import { badRequest } from "./errors";

/**
 * D21: OData system query options (`$` names, in any case). `$select` is taken
 * where a route names the properties it can project; any other `$` option, or
 * `$select` elsewhere, is a 400 naming it. Parameters without `$` are ignored,
 * as Graph ignores them (the watch routes' `since`, for one).
 */
export function queryOptions(selectable: readonly string[] | undefined): MiddlewareHandler<AppEnv> {
  const canonical = new Map(selectable?.map((name) => [name.toLowerCase(), name]));
  return async (c, next) => {
    const query = c.req.url.indexOf("?");
    if (query !== -1) {
      let select: string[] | undefined;
      for (const [name, value] of new URLSearchParams(c.req.url.slice(query + 1))) {
        if (!name.startsWith("$")) continue;
        if (name.toLowerCase() !== "$select" || !selectable) {
          throw badRequest(`The query parameter '${name}' is not supported.`);
        }
        if (select)
          throw badRequest(`Query option '${name}' was specified more than once; it must be specified at most once.`);
        select = parseSelect(value, canonical);
      }
      c.set("select", select);
    }
    await next();
  };
}

function parseSelect(value: string, canonical: Map<string, string>): string[] | undefined {
  const names = value.split(",").map((name) => name.trim());
  if (names.some((name) => name === "")) {
    throw badRequest(
      `The $select query option '${value}' names an empty property: list property names, comma-separated.`,
    );
  }
  // `*` is OData's "every property", the same as no $select.
  if (names.includes("*")) return undefined;
  return [
    ...new Set(
      names.map((name) => {
        const found = canonical.get(name.toLowerCase());
        if (!found) throw badRequest(`Could not find a property named '${name}' on type 'microsoft.graph.presence'.`);
        return found;
      }),
    ),
  ];
}

/** What `$select` named, for the handler of a route that takes it. */
export const selectedProperties = (c: Context<AppEnv>) => c.get("select");

/** The entity with only the selected properties (and `id`, which Graph always returns). */
export function project<T extends { id: string }>(entity: T, select: readonly string[] | undefined): Partial<T> {
  if (!select) return entity;
  const projected: Record<string, unknown> = { id: entity.id };
  for (const name of select) projected[name] = entity[name as keyof T];
  return projected as Partial<T>;
}

/** `(availability,activity)` after an entity set or type in `@odata.context`, as OData writes a projection. */
export const selectSuffix = (select: readonly string[] | undefined) => (select ? `(${select.join(",")})` : "");
