import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { api, auditQuery, drawQuery } from "./client";
import { ApiError } from "./errors";
import { getSession, setSession } from "./session";
import type { AuthSession } from "./types";

// The app's calls as the server sees them: fetch and sessionStorage stand in for the browser's.
interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}
let sent: Sent[] = [];
let answer: () => Response = () => new Response("{}");
const store = new Map<string, string>();
const local = new Map<string, string>();

beforeAll(() => {
  vi.stubGlobal("sessionStorage", {
    getItem: (k: string) => store.get(k) ?? null,
    setItem: (k: string, v: string) => void store.set(k, v),
    removeItem: (k: string) => void store.delete(k),
  });
  vi.stubGlobal("localStorage", {
    getItem: (k: string) => local.get(k) ?? null,
    setItem: (k: string, v: string) => void local.set(k, v),
    removeItem: (k: string) => void local.delete(k),
  });
  vi.stubGlobal("fetch", async (url: string, init: RequestInit = {}) => {
    if (url === "/config.json") return Response.json({ api_base_url: "https://tacos.test", ws_url: null });
    sent.push({ url, method: init.method ?? "GET", headers: init.headers as Record<string, string>, body: init.body as string | undefined });
    return answer();
  });
});
afterAll(() => vi.unstubAllGlobals());

const admin: AuthSession = { token: "jwt.admin", user_id: "usr_admin", username: "admin", role: "admin", expires_in: 900 };
const sale = { event_id: "evt_demo_ga", state: "paused", admission_rate_per_sec: 500, hold_seconds: 60, changed_at: "2026-05-01T18:04:09Z" };
const error = (status: number, code: string, message: string, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify({ error: { code, message, trace_id: "0af7651916cd43dd8448eb211c80319c" } }), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });

beforeEach(() => {
  sent = [];
  store.clear();
  local.clear();
  setSession(admin);
  answer = () => Response.json(sale);
});

describe("sale controls", () => {
  it("pause, resume and close POST to the event's admin routes with the administrator's token and no body", async () => {
    for (const [call, action] of [
      [api.pauseSale, "pause"],
      [api.resumeSale, "resume"],
      [api.closeSale, "close"],
    ] as const) {
      sent = [];
      expect(await call("evt_demo_ga")).toEqual(sale);
      expect(sent).toHaveLength(1);
      const [req] = sent;
      expect(req.method).toBe("POST");
      expect(req.url).toBe(`https://tacos.test/api/v1/admin/events/evt_demo_ga/${action}`);
      expect(req.headers.Authorization).toBe("Bearer jwt.admin");
      expect(req.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(req.body).toBeUndefined();
      // Repeating an action is harmless (the server writes nothing): no idempotency key needed.
      expect(req.headers["Idempotency-Key"]).toBeUndefined();
    }
  });

  it("PATCHes only the settings given", async () => {
    await api.updateSale("evt_demo_ga", { admission_rate_per_sec: 20 }, "4bf92f3577b34da6a3ce929d0e0e4736");
    const [req] = sent;
    expect(req.method).toBe("PATCH");
    expect(req.url).toBe("https://tacos.test/api/v1/admin/events/evt_demo_ga");
    expect(JSON.parse(req.body!)).toEqual({ admission_rate_per_sec: 20 });
    expect(req.headers["Content-Type"]).toBe("application/json");
    expect(req.headers.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-/);
  });

  it("PATCHes an opening time as given (UTC RFC 3339); a 409 keeps the server's words", async () => {
    await api.updateSale("evt_demo_ga", { on_sale_at: "2026-12-04T21:00:00Z" });
    expect(sent[0].method).toBe("PATCH");
    expect(JSON.parse(sent[0].body!)).toEqual({ on_sale_at: "2026-12-04T21:00:00Z" });
    answer = error(409, "INVALID_STATE", "the sale has opened: its opening time can no longer be moved");
    expect(await api.updateSale("evt_demo_ga", { on_sale_at: "2026-12-04T21:00:00Z" }).catch((x: unknown) => x)).toMatchObject({
      status: 409,
      code: "INVALID_STATE",
      message: "the sale has opened: its opening time can no longer be moved",
      request: { method: "PATCH", path: "/api/v1/admin/events/evt_demo_ga" },
    });
  });

  it("escapes the event id in the path", async () => {
    await api.pauseSale("evt/../x");
    expect(sent[0].url).toBe("https://tacos.test/api/v1/admin/events/evt%2F..%2Fx/pause");
  });

  it("turns each refusal into an ApiError with its code, never a success", async () => {
    const cases: [() => Response, number, string][] = [
      [error(401, "INVALID_TOKEN", "the bearer token is not valid: expired"), 401, "INVALID_TOKEN"],
      [error(403, "FORBIDDEN", "this route is for administrators"), 403, "FORBIDDEN"],
      [error(409, "SALE_CLOSED", "sales for this event are closed"), 409, "SALE_CLOSED"],
      [error(400, "INVALID_REQUEST", "hold_seconds: a whole number from 10 to 3600"), 400, "INVALID_REQUEST"],
      [error(429, "RATE_LIMITED", "slow down", { "Retry-After": "3" }), 429, "RATE_LIMITED"],
      [() => new Response("<html>bad gateway</html>", { status: 503, headers: { "Retry-After": "2" } }), 503, "UNAVAILABLE"],
    ];
    for (const [res, status, code] of cases) {
      setSession(admin);
      answer = res;
      const e = await api.resumeSale("evt_demo_ga").catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ApiError);
      expect(e).toMatchObject({ status, code });
    }
    answer = error(429, "RATE_LIMITED", "slow down", { "Retry-After": "3" });
    expect(await api.pauseSale("evt_demo_ga").catch((x: unknown) => x)).toMatchObject({ retryAfter: 3 });
  });

  it("forgets a session the server no longer accepts, and keeps one that is merely not an administrator's", async () => {
    answer = error(403, "FORBIDDEN", "this route is for administrators");
    await api.pauseSale("evt_demo_ga").catch(() => undefined);
    expect(getSession()).toEqual(admin);
    answer = error(401, "INVALID_TOKEN", "the bearer token is not valid: expired");
    await api.pauseSale("evt_demo_ga").catch(() => undefined);
    expect(getSession()).toBeNull();
  });

  it("a network failure is said as such", async () => {
    answer = () => {
      throw new TypeError("fetch failed");
    };
    expect(await api.closeSale("evt_demo_ga").catch((x: unknown) => x)).toMatchObject({ status: 0, code: "NETWORK_ERROR" });
  });
});

describe("audit log", () => {
  it("reads one event's page, and the older one after it", async () => {
    const page = {
      entries: [
        { audit_id: "aud_2", at: "2026-05-01T18:05:00Z", actor: "usr_admin", action: "resume", event_id: "evt_demo_ga", before: sale, after: { ...sale, state: "open" } },
      ],
      next: "1777658700000#aud_2",
    };
    answer = () => Response.json(page);
    expect(await api.audit({ event_id: "evt_demo_ga", limit: 50 })).toEqual(page);
    expect(sent[0].method).toBe("GET");
    expect(sent[0].url).toBe("https://tacos.test/api/v1/admin/audit?event_id=evt_demo_ga&limit=50");
    expect(sent[0].headers.Authorization).toBe("Bearer jwt.admin");
    await api.audit({ event_id: "evt_demo_ga", limit: 50, before: page.next });
    expect(sent[1].url).toBe("https://tacos.test/api/v1/admin/audit?event_id=evt_demo_ga&limit=50&before=1777658700000%23aud_2");
  });

  it("builds its query from what is given", () => {
    expect(auditQuery({})).toBe("");
    expect(auditQuery({ limit: 10 })).toBe("?limit=10");
    expect(auditQuery({ event_id: "evt_a", before: "1#aud_x" })).toBe("?event_id=evt_a&before=1%23aud_x");
  });
});

describe("joining with proof of work", () => {
  const KEY = "0b6f2c1e-9b1a-4a47-8f57-3f0c7b4a2f10";

  it("asks for a challenge with the session's token (the challenge is bound to the caller)", async () => {
    const challenge = { challenge: "c1.18.1767225600000.0123456789abcdef.00", bits: 18, expires_at: "2026-01-01T00:10:00Z", algorithm: "sha256" };
    answer = () => Response.json(challenge);
    expect(await api.challenge("evt_demo ga")).toEqual(challenge);
    expect(sent[0].method).toBe("GET");
    expect(sent[0].url).toBe("https://tacos.test/api/v1/queue/challenge?event_id=evt_demo%20ga");
    expect(sent[0].headers.Authorization).toBe("Bearer jwt.admin");
    // Anonymous: none.
    setSession(null);
    await api.challenge("evt_demo_ga");
    expect(sent[1].headers.Authorization).toBeUndefined();
  });

  it("joins with the Idempotency-Key the work was done for, and the work in the body", async () => {
    answer = () => Response.json({ waiting_token: "wt_1", position_hint: 3, status: "waiting" }, { status: 202 });
    const body = { event_id: "evt_demo_ga", challenge: "c1.18.1767225600000.0123456789abcdef.00", solution: "123456" };
    expect(await api.join(body, KEY)).toEqual({ waiting_token: "wt_1", position_hint: 3, status: "waiting" });
    expect(sent[0].method).toBe("POST");
    expect(sent[0].url).toBe("https://tacos.test/api/v1/queue/join");
    expect(sent[0].headers["Idempotency-Key"]).toBe(KEY);
    expect(JSON.parse(sent[0].body!)).toEqual(body);
    // The same key again on a retry: the caller's, never one of its own.
    await api.join(body, KEY);
    expect(sent[1].headers["Idempotency-Key"]).toBe(KEY);
  });

  it("a 428 is CHALLENGE_REQUIRED", async () => {
    answer = error(428, "CHALLENGE_REQUIRED", "the challenge expired; ask for a new one");
    expect(await api.join({ event_id: "evt_demo_ga" }, KEY).catch((x: unknown) => x)).toMatchObject({ status: 428, code: "CHALLENGE_REQUIRED" });
  });
});

describe("the opening draw", () => {
  const scheduled = {
    event_id: "evt_x",
    status: "scheduled",
    on_sale_at: "2026-12-04T21:00:00Z",
    opens_in_sec: 42,
    algorithm: "feistel-sha256-v1",
    seed_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    entries: [],
    next: null,
  };

  it("reads the public record of an event's draw, anyone may (no token needed)", async () => {
    setSession(null);
    answer = () => Response.json(scheduled);
    expect(await api.draw("evt_x")).toEqual(scheduled);
    expect(sent[0].method).toBe("GET");
    expect(sent[0].url).toBe("https://tacos.test/api/v1/queue/draw?event_id=evt_x");
    expect(sent[0].headers.Authorization).toBeUndefined();
  });

  it("pages the entries with after and limit", async () => {
    const drawn = { ...scheduled, status: "drawn", seed: "ab".repeat(32), lobby_size: 3, entries: [{ lobby_order: 1, token_sha256: "cd".repeat(32) }], next: "1" };
    answer = () => Response.json(drawn);
    expect(await api.draw("evt x", { after: "1", limit: 2 })).toEqual(drawn);
    expect(sent[0].url).toBe("https://tacos.test/api/v1/queue/draw?event_id=evt+x&after=1&limit=2");
    expect(drawQuery("evt_x")).toBe("?event_id=evt_x");
    expect(drawQuery("evt_x", { limit: 1 })).toBe("?event_id=evt_x&limit=1");
    expect(drawQuery("evt_x", { after: "2#x" })).toBe("?event_id=evt_x&after=2%23x");
  });

  it("a join before the opening answers the lobby", async () => {
    answer = () => Response.json({ waiting_token: "wtkn_1", position_hint: 0, status: "lobby", opens_in_sec: 42 }, { status: 202 });
    expect(await api.join({ event_id: "evt_x" }, "0b6f2c1e-9b1a-4a47-8f57-3f0c7b4a2f10")).toEqual({
      waiting_token: "wtkn_1",
      position_hint: 0,
      status: "lobby",
      opens_in_sec: 42,
    });
  });
});

describe("device tokens", () => {
  const session = (username: string, device_token: string): AuthSession => ({
    token: `jwt.${username}`,
    user_id: `usr_${username}`,
    username,
    role: "user",
    expires_in: 86400,
    device_token,
  });

  it("a login sends back the device token an earlier session of that username gave this browser, even after signing out", async () => {
    setSession(session("Maria", "dvc_maria"));
    setSession(session("joao", "dvc_joao"));
    setSession(null);
    answer = () => Response.json(session("maria", "dvc_maria_2"));
    await api.login("MARIA", "correct-horse-battery");
    expect(JSON.parse(sent[0].body!)).toEqual({ username: "MARIA", password: "correct-horse-battery", device_token: "dvc_maria" });
  });

  it("a username this browser never signed in to is sent without one", async () => {
    setSession(session("maria", "dvc_maria"));
    answer = () => Response.json(session("ana", "dvc_ana"));
    await api.login("ana", "correct-horse-battery");
    expect(JSON.parse(sent[0].body!)).toEqual({ username: "ana", password: "correct-horse-battery" });
  });
});
