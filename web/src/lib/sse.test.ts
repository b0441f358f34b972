import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("assembles events across chunks and line endings", () => {
    const p = new SseParser();
    expect(p.push("event: status\ndata: {\"a\"")).toEqual([]);
    expect(p.push(":1}\n\n: keep-alive\n\nevent: availability\r\ndata: x\r\ndata: y\r\n\r\n")).toEqual([
      { event: "status", data: '{"a":1}' },
      { event: "availability", data: "x\ny" },
    ]);
  });
  it("defaults the event name to message", () => {
    expect(new SseParser().push("data: hi\n\n")).toEqual([{ event: "message", data: "hi" }]);
  });
  it("finds line ends split across chunks, and long lines in many chunks", () => {
    const p = new SseParser();
    expect(p.push("data: a\r")).toEqual([]);
    expect(p.push("\n\r")).toEqual([]);
    expect(p.push("\ndata: b\r")).toEqual([{ event: "message", data: "a" }]);
    expect(p.push("\r\n")).toEqual([{ event: "message", data: "b" }]);
    const long = "x".repeat(100_000);
    const q = new SseParser();
    const got = [];
    for (const piece of `event: availability\ndata: ${long}\n\n`.match(/[^]{1,4096}/g)!) got.push(...q.push(piece));
    expect(got).toEqual([{ event: "availability", data: long }]);
  });
});
