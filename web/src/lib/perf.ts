/**
 * User-timing marks of a page's first load (`performance.mark`), each set once: the browser tests
 * read them to measure how fast the seat map becomes usable (docs/web-app.md).
 *
 * - `tacos:availability`: the first availability arrived (before it is parsed);
 * - `tacos:seatmap`: the seat map's first seats in their known states are in the page (drawn on
 *   the next frame).
 */
const marked = new Set<string>();

export function markOnce(name: string): void {
  if (marked.has(name)) return;
  marked.add(name);
  try {
    performance.mark(name);
  } catch {
    /* no user timing here (tests): nothing to record */
  }
}
