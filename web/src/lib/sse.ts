/**
 * Server-sent events over `fetch` rather than `EventSource`, so every stream request carries the
 * `traceparent` header like any other API call. `SseParser` is the wire format (pure, tested).
 */

export interface SseMessage {
  event: string;
  data: string;
}

/**
 * Incremental parser of the `text/event-stream` format: feed text chunks, get whole events. Each
 * character is looked at once however the chunks fall (an arena's availability is one line of
 * about 1 MB, arriving in many chunks).
 */
export class SseParser {
  private buffer = "";
  /** How much of `buffer` is known to hold no line end. */
  private scanned = 0;
  private event = "";
  private data: string[] = [];

  push(chunk: string): SseMessage[] {
    const buf = this.buffer + chunk;
    const out: SseMessage[] = [];
    let start = 0;
    let from = this.scanned;
    for (;;) {
      const nl = lineEnd(buf, from);
      if (nl < 0) {
        this.scanned = buf.length - start;
        break;
      }
      // A lone trailing \r may be the first half of \r\n: wait for more input.
      if (buf[nl] === "\r" && nl === buf.length - 1) {
        this.scanned = nl - start;
        break;
      }
      this.line(buf.slice(start, nl), out);
      start = nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1);
      from = start;
    }
    this.buffer = buf.slice(start);
    return out;
  }

  private line(line: string, out: SseMessage[]) {
    if (line === "") {
      if (this.data.length > 0) out.push({ event: this.event || "message", data: this.data.join("\n") });
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
  }
}

/** The first \r or \n of `s` from `from`, or -1. */
function lineEnd(s: string, from: number): number {
  const n = s.indexOf("\n", from);
  const r = s.indexOf("\r", from);
  return n < 0 ? r : r < 0 ? n : Math.min(n, r);
}

/**
 * Reads the stream at `url` until it ends (resolves), fails or is aborted (rejects).
 * `onMessage` gets each event.
 */
export async function readSse(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  onMessage: (m: SseMessage) => void,
): Promise<void> {
  const res = await fetch(url, { headers: { Accept: "text/event-stream", ...headers }, signal, cache: "no-store" });
  if (!res.ok || !res.body || !(res.headers.get("Content-Type") ?? "").includes("text/event-stream")) {
    throw new Error(`stream answered ${res.status}`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const m of parser.push(value)) onMessage(m);
  }
}
