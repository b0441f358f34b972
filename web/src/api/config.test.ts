import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, parseConfig } from "./config";

describe("parseConfig", () => {
  it("takes the server's values", () => {
    const dashboard = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/tacos-operator";
    expect(
      parseConfig({ api_base_url: "https://api.example.com/", ws_url: "wss://ws.example.com/prod", metrics_dashboard_url: dashboard }),
    ).toEqual({
      api_base_url: "https://api.example.com",
      ws_url: "wss://ws.example.com/prod",
      metrics_dashboard_url: dashboard,
    });
  });
  it("falls back to same origin and SSE", () => {
    expect(parseConfig(null)).toEqual(DEFAULT_CONFIG);
    expect(parseConfig({ api_base_url: "", ws_url: null })).toEqual(DEFAULT_CONFIG);
    expect(parseConfig({ api_base_url: 5, ws_url: "http://not-a-socket" })).toEqual(DEFAULT_CONFIG);
    // A link operators follow: only https, never a script or plain-HTTP URL.
    expect(parseConfig({ metrics_dashboard_url: "javascript:alert(1)" })).toEqual(DEFAULT_CONFIG);
    expect(parseConfig({ metrics_dashboard_url: "http://dash.example.com" })).toEqual(DEFAULT_CONFIG);
  });
});
