import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, parseConfig } from "./config";

describe("parseConfig", () => {
  it("takes the server's values", () => {
    expect(parseConfig({ api_base_url: "https://api.example.com/", ws_url: "wss://ws.example.com/prod" })).toEqual({
      api_base_url: "https://api.example.com",
      ws_url: "wss://ws.example.com/prod",
    });
  });
  it("falls back to same origin and SSE", () => {
    expect(parseConfig(null)).toEqual(DEFAULT_CONFIG);
    expect(parseConfig({ api_base_url: "", ws_url: null })).toEqual(DEFAULT_CONFIG);
    expect(parseConfig({ api_base_url: 5, ws_url: "http://not-a-socket" })).toEqual(DEFAULT_CONFIG);
  });
});
