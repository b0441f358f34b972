// Shared setup of the browser tests: Debian's Chromium through playwright-core (never a
// downloaded browser), one screenshot per page state, and the few API calls tests make directly.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import path from "node:path";
import assert from "node:assert/strict";

export const BASE_URL = process.env.TACOS_WEB_URL ?? "http://127.0.0.1:8112";
/** The same app on a server whose holds last a few seconds (the expiry test). */
export const SHORT_HOLD_URL = process.env.TACOS_WEB_URL_SHORT_HOLD ?? "http://127.0.0.1:8113";
export const SHOTS = process.env.TACOS_SCREENSHOTS ?? path.resolve("../target/browser/screenshots");
export const ADMIN_PASSWORD = process.env.TACOS_ADMIN_PASSWORD ?? "";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Generous: two shared cores, debug builds, Argon2. */
export const T = 20_000;

mkdirSync(SHOTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/**
 * A fresh browser profile (own sessionStorage, own user), in the time zone `timezoneId` when
 * given (the machine's otherwise); `phone` is a phone's screen, 390 px wide or `phone` px when a
 * number. Collects page errors and CSP violations; `check()` fails the test if any happened.
 */
export async function newUser(browser, { phone = false, timezoneId } = {}) {
  const context = await browser.newContext({
    ...(phone
      ? { viewport: { width: typeof phone === "number" ? phone : 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
      : { viewport: { width: 1280, height: 900 } }),
    ...(timezoneId ? { timezoneId } : {}),
  });
  context.setDefaultTimeout(T);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  return {
    context,
    page,
    check: () => assert.deepEqual(problems, [], "no page errors or CSP violations"),
    close: () => context.close(),
  };
}

/**
 * Slows the page's CPU `rate` times (1 = full speed), as on a cheap phone: renders then take long
 * enough for live updates and clock ticks to land in the middle of a navigation.
 */
export async function slowCpu(page, rate) {
  // One DevTools session per page, kept open: closing it would undo the emulation.
  cdpSessions.get(page) ?? cdpSessions.set(page, await page.context().newCDPSession(page));
  await cdpSessions.get(page).send("Emulation.setCPUThrottlingRate", { rate });
}
const cdpSessions = new WeakMap();

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * axe-core's WCAG 2.1 A/AA rules (contrast, labels, names, ARIA) on the page as it is; fails on
 * any violation. Run through the DevTools protocol, so the page's CSP does not stop it.
 */
export async function audit(page, name) {
  const violations = await page.evaluate(async (src) => {
    if (!window.axe) (0, eval)(src);
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  }, AXE);
  assert.deepEqual(violations, [], `accessibility violations on ${name}`);
}

/**
 * What of the page is wider than its screen (the elements sticking out, at most five): nothing,
 * on a page that needs no sideways scrolling.
 */
export async function sticksOut(page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    return [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > width + 1)
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""} (right edge at ${Math.round(e.getBoundingClientRect().right)} px)`);
  });
}

/** A full-page screenshot of the page state `name`, after an accessibility audit of it. */
export async function shot(page, name) {
  await audit(page, name);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

export function uniqueName(prefix) {
  return `${prefix}_${randomUUID().slice(0, 8)}`;
}

/** On the login page: registers a new account (and is sent on to where the flow was). */
export async function register(page, username = uniqueName("buyer")) {
  await page.locator("#register-username").fill(username);
  await page.locator("#register-password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create account" }).click();
  return username;
}

/**
 * From the event page to the seat map or ticket picker: join anonymously, wait for the turn,
 * register when asked, and let the app enter automatically.
 */
export async function joinAndEnter(page, base, eventId, { shots = false } = {}) {
  await page.goto(`${base}/events/${eventId}`);
  await page.getByRole("button", { name: "Join the waiting room" }).click();
  await page.waitForURL(/\/waiting$/);
  await page.getByRole("heading", { name: /Waiting room/ }).waitFor();
  const prompt = page.getByRole("link", { name: "Log in or register to continue" });
  await prompt.waitFor({ timeout: 60_000 });
  if (shots) await shot(page, "03-waiting-your-turn");
  await prompt.click();
  await page.waitForURL(/\/login\?next=/);
  if (shots) await shot(page, "04-login-register");
  const username = await register(page);
  await page.waitForURL(/\/reserve$/, { timeout: 60_000 });
  return username;
}

/** The first seat shown as free and choosable on the seat map. */
export async function firstFreeSeat(page) {
  const seat = page.locator('button[data-seat][data-status="AVAILABLE"]:not([disabled])').first();
  await seat.waitFor();
  return seat.getAttribute("data-seat");
}

export function seatButton(page, seatId) {
  return page.locator(`button[data-seat="${seatId}"]`);
}

/** Picks seats and holds them; resolves on the hold page. */
export async function holdSeats(page, seatIds) {
  for (const id of seatIds) await seatButton(page, id).click();
  await page.getByRole("button", { name: /^Hold \d+ seat/ }).click();
  await page.waitForURL(/\/reservations\/rsv_[^/]+$/);
  await page.getByRole("timer").waitFor();
}

/** Pays with the simulator's `scenario` on the hold page. */
export async function pay(page, scenario) {
  await page.getByLabel(scenario[0].toUpperCase() + scenario.slice(1), { exact: true }).check();
  await page.getByRole("button", { name: /^Pay / }).click();
}

// ---- direct API calls (setup only) ----

async function call(base, method, p, body, token) {
  const headers = { "Content-Type": "application/json", "Idempotency-Key": randomUUID() };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${p}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return JSON.parse(text);
}

export async function adminToken(base) {
  return (await call(base, "POST", "/api/v1/auth/login", { username: "admin", password: ADMIN_PASSWORD })).token;
}

export async function createEvent(base, token, spec) {
  return call(base, "POST", "/api/v1/admin/events", {
    name: spec.name,
    venue: "Test Hall",
    starts_at: new Date(Date.now() + 86_400_000).toISOString(),
    currency: "USD",
    price: 2500,
    ...spec,
  }, token);
}

/** Someone joining the line (never entering). */
export async function joinAnonymously(base, eventId) {
  return call(base, "POST", "/api/v1/queue/join", { event_id: eventId });
}

/** A whole purchase over the API: the buyer who takes `quantity` places of a GA event. */
export async function buyOverApi(base, eventId, quantity) {
  const user = await call(base, "POST", "/api/v1/auth/register", { username: uniqueName("api"), password: "correct horse battery" });
  const t = user.token;
  const { waiting_token } = await call(base, "POST", "/api/v1/queue/join", { event_id: eventId }, t);
  for (let i = 0; i < 100; i++) {
    const s = await call(base, "GET", `/api/v1/queue/status?token=${waiting_token}`, undefined, t);
    if (s.ready_for_entry) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const { reservation_token } = await call(base, "POST", "/api/v1/queue/enter", { waiting_token }, t);
  const rsv = await call(base, "POST", "/api/v1/reservations", { event_id: eventId, quantity, reservation_token }, t);
  const pi = await call(base, "POST", "/api/v1/payments/intent", {
    reservation_id: rsv.reservation_id, amount: rsv.total_amount, currency: rsv.currency, scenario: "approve",
  }, t);
  await call(base, "POST", "/api/v1/payments/process", { payment_intent_id: pi.payment_intent_id }, t);
  for (let i = 0; i < 100; i++) {
    const r = await call(base, "GET", `/api/v1/reservations/${rsv.reservation_id}`, undefined, t);
    if (r.status === "CONFIRMED") return r;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("API purchase never confirmed");
}

/** A new buyer's account over the API: `{ username, password, token, user_id }`. */
export async function registerOverApi(base) {
  const username = uniqueName("buyer");
  const password = "correct horse battery";
  const user = await call(base, "POST", "/api/v1/auth/register", { username, password });
  return { ...user, username, password };
}

/**
 * An operator's action on a sale over the API (`pause`, `resume`, `close`, or `update` with the
 * settings), as `token`'s user: the sale the server answers.
 */
export async function saleAction(base, token, eventId, action, settings) {
  const id = encodeURIComponent(eventId);
  return action === "update"
    ? call(base, "PATCH", `/api/v1/admin/events/${id}`, settings, token)
    : call(base, "POST", `/api/v1/admin/events/${id}/${action}`, undefined, token);
}

/** An event as `GET /events/{id}` shows it (with its `sale`). */
export async function getEvent(base, eventId) {
  return call(base, "GET", `/api/v1/events/${encodeURIComponent(eventId)}`);
}

/** The public record of an event's opening draw (`GET /queue/draw`), one page of its entries. */
export async function getDraw(base, eventId, { after, limit } = {}) {
  const q = new URLSearchParams({ event_id: eventId });
  if (after) q.set("after", after);
  if (limit !== undefined) q.set("limit", String(limit));
  return call(base, "GET", `/api/v1/queue/draw?${q}`);
}
