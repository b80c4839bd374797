/**
 * A request that the domain rejects: the caller sent something that cannot be
 * accepted. The HTTP layer turns it into a Graph `400 BadRequest`. Kept here,
 * free of any HTTP import, so the domain stays plain TypeScript.
 */
export class InvalidInput extends Error {
  override readonly name = "InvalidInput";
}
