import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import { pollDelay } from "./live";

describe("polling after a failure", () => {
  it("waits the server's Retry-After, at least the usual 2 s and at most a minute", () => {
    expect(pollDelay(new ApiError(429, "RATE_LIMITED", "slow down", "t", 10))).toBe(10_000);
    expect(pollDelay(new ApiError(503, "UNAVAILABLE", "busy", "t", 0))).toBe(2_000);
    expect(pollDelay(new ApiError(503, "UNAVAILABLE", "busy", "t", 1))).toBe(2_000);
    expect(pollDelay(new ApiError(503, "UNAVAILABLE", "busy", "t", 3600))).toBe(60_000);
  });

  it("asks again after 2 s when the server named no wait, or there was no answer", () => {
    expect(pollDelay(new ApiError(503, "UNAVAILABLE", "busy"))).toBe(2_000);
    expect(pollDelay(new ApiError(0, "NETWORK_ERROR", "unreachable"))).toBe(2_000);
    expect(pollDelay(new Error("anything"))).toBe(2_000);
  });
});
