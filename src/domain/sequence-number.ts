// D10: a fixed-width string of digits, so that string order is numeric order.
const WIDTH = 20;

export function formatSequenceNumber(counter: number): string {
  return String(counter).padStart(WIDTH, "0");
}

/** A sequenceNumber a client sent back (digits, maybe without the leading zeros), in the fixed width. */
export function padSequenceNumber(digits: string): string {
  return digits.padStart(WIDTH, "0");
}
