/** W3C Trace Context: one trace per user action, a fresh span id per request. */

function hex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A trace id (32 hex digits, never all zeros). */
export function newTraceId(): string {
  let id = hex(16);
  while (/^0+$/.test(id)) id = hex(16);
  return id;
}

/** `traceparent` header value for one request of the trace `traceId`. */
export function traceparent(traceId: string): string {
  let span = hex(8);
  while (/^0+$/.test(span)) span = hex(8);
  return `00-${traceId}-${span}-01`;
}
