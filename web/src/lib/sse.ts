/**
 * Server-sent events over `fetch` rather than `EventSource`, so every stream request carries the
 * `traceparent` header like any other API call. `SseParser` is the wire format (pure, tested).
 */

export interface SseMessage {
  event: string;
  data: string;
}

/** Incremental parser of the `text/event-stream` format: feed text chunks, get whole events. */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];

  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const out: SseMessage[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const sep = this.buffer.startsWith("\r\n", nl) ? 2 : 1;
      // A lone trailing \r may be the first half of \r\n: wait for more input.
      if (sep === 1 && this.buffer[nl] === "\r" && nl === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(nl + sep);
      if (line === "") {
        if (this.data.length > 0) out.push({ event: this.event || "message", data: this.data.join("\n") });
        this.event = "";
        this.data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "data") this.data.push(value);
    }
    return out;
  }
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
