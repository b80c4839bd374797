// D10: a fixed-width string of digits, so that string order is numeric order.
const WIDTH = 20;

export function formatSequenceNumber(counter: number): string {
  return String(counter).padStart(WIDTH, "0");
}
