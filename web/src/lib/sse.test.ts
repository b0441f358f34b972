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
});
