/** Runtime configuration from `GET /config.json` (same origin as the page). */

export interface RuntimeConfig {
  /** API origin; "" = same origin as the page. */
  api_base_url: string;
  /** WebSocket API URL, or null to use server-sent events. */
  ws_url: string | null;
  /**
   * Where operators watch the metrics when the API has no `/metrics` to chart (on AWS Lambda: the
   * stack's CloudWatch dashboard), or null.
   */
  metrics_dashboard_url: string | null;
}

export const DEFAULT_CONFIG: RuntimeConfig = { api_base_url: "", ws_url: null, metrics_dashboard_url: null };

/** Accepts only well-formed values; anything else falls back to the defaults. */
export function parseConfig(raw: unknown): RuntimeConfig {
  if (typeof raw !== "object" || raw === null) return DEFAULT_CONFIG;
  const r = raw as Record<string, unknown>;
  const base = typeof r.api_base_url === "string" ? r.api_base_url.replace(/\/+$/, "") : "";
  const ws = typeof r.ws_url === "string" && /^wss?:\/\//.test(r.ws_url) ? r.ws_url : null;
  const dashboard =
    typeof r.metrics_dashboard_url === "string" && /^https:\/\//.test(r.metrics_dashboard_url) ? r.metrics_dashboard_url : null;
  return { api_base_url: base, ws_url: ws, metrics_dashboard_url: dashboard };
}

let loaded: Promise<RuntimeConfig> | null = null;

/** Loaded once per page; a missing or broken config.json means same-origin API and SSE. */
export function loadConfig(): Promise<RuntimeConfig> {
  loaded ??= fetch("/config.json", { headers: { Accept: "application/json" }, cache: "no-store" })
    .then((r) => (r.ok ? r.json() : null))
    .then(parseConfig)
    .catch(() => DEFAULT_CONFIG);
  return loaded;
}
