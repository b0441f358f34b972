// Browser tests of the waiting room's outlook (issue 16, item 6): the live position, the wait as a
// range, "tickets will likely run out" for a place beyond the stock, and no range while paused.
// Run by scripts/browser.sh, on events made here (the demo events are never touched).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ADMIN_PASSWORD, BASE_URL, T,
  adminToken, createEvent, joinAnonymously, launch, newUser, registerOverApi, saleAction, shot, uniqueName,
} from "./support.mjs";

const skip = !ADMIN_PASSWORD && "TACOS_ADMIN_PASSWORD not set";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Joins `eventId` from its page, as a buyer who is not signed in; resolves on the waiting page. */
async function joinFromPage(page, eventId) {
  await page.goto(`${BASE_URL}/events/${eventId}`);
  await page.getByRole("button", { name: "Join the waiting room" }).click();
  await page.waitForURL(/\/waiting$/);
  await page.getByTestId("position").waitFor();
}

/** The status the server gives the page's own waiting token, read over the API. */
async function statusOf(page, eventId) {
  const token = await page.evaluate((id) => JSON.parse(sessionStorage.getItem(`tacos.flow.${id}`) ?? "{}").waiting_token, eventId);
  assert.match(token ?? "", /^wtkn_/, "the page keeps its waiting token");
  const res = await fetch(`${BASE_URL}/api/v1/queue/status?token=${encodeURIComponent(token)}`);
  assert.equal(res.status, 200);
  return res.json();
}

/** Waits until the page shows the position the server gives its token. */
async function showsServerPosition(page, eventId) {
  for (let i = 0; ; i++) {
    const { position } = await statusOf(page, eventId);
    try {
      await page.getByTestId("position").filter({ hasText: new RegExp(`^${position}$`) }).waitFor({ timeout: 4_000 });
      return;
    } catch (e) {
      if (i >= 4) throw e;
    }
  }
}

const text = async (locator) => (await locator.textContent()).trim();

/** Counts, in the page, how often the position and the screen readers' announcement change. */
async function watchChanges(page) {
  await page.evaluate(() => {
    const seen = { positions: [], announcements: [] };
    const position = () => document.querySelector('[data-testid="position"]')?.textContent ?? null;
    const said = () => document.querySelector('[data-testid="wait-announcement"]')?.textContent ?? null;
    const note = () => {
      const p = position();
      const a = said();
      if (p !== null && seen.positions.at(-1) !== p) seen.positions.push(p);
      if (a && seen.announcements.at(-1) !== a) seen.announcements.push(a);
    };
    note();
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
    window.__waitingSeen = seen;
  });
  return () => page.evaluate(() => window.__waitingSeen);
}

describe("waiting room outlook", () => {
  test("the wait is shown as a range that follows the line, said calmly to screen readers; paused shows no range", { skip }, async () => {
    const admin = await adminToken(BASE_URL);
    // Plenty of stock and a slow line (one person every 5 s): the buyer is told a time.
    const ev = await createEvent(BASE_URL, admin, { name: uniqueName("Range line"), capacity: 100, admission_rate_per_sec: 0.2 });
    for (let i = 0; i < 20; i++) await joinAnonymously(BASE_URL, ev.event_id);
    const u = await newUser(browser);
    const { page } = u;
    await joinFromPage(page, ev.event_id);

    const range = page.getByTestId("eta-range");
    await range.waitFor();
    const shown = await text(range);
    assert.match(shown, /^(about \d+–\d+ (seconds|minutes)|up to \d+ (seconds|minutes?)|about \d+ (seconds?|minutes?))$/, `a range: ${shown}`);
    // Screen readers get "to" for the dash; the point estimate is a line of its own.
    const eta = await text(page.getByTestId("eta"));
    assert.match(eta, /^Estimated wait: /);
    assert.ok(eta.includes(shown.replace("–", " to ")), `spoken form in ${eta}`);
    assert.equal(await range.getAttribute("aria-hidden"), "true");
    assert.match(await text(page.getByTestId("eta-point")), /^Best guess: about \d+ (seconds?|minutes?)$/);
    assert.equal(await page.getByTestId("likely-sold-out").count(), 0);

    const status = await statusOf(page, ev.event_id);
    assert.equal(status.status, "waiting");
    assert.equal(status.likely_sold_out, false, "the stock reaches this place");
    const [low, high] = status.eta_range_sec;
    assert.ok(low <= status.eta_sec && status.eta_sec <= high, `range ${low}–${high} around ${status.eta_sec}`);
    assert.ok(status.position >= 10, `far enough back to watch the line move (position ${status.position})`);

    // Screen readers: one polite region, saying the position and wait; the figures themselves are
    // not a live region (they change on every status).
    const said = page.getByTestId("wait-announcement");
    assert.equal(await said.getAttribute("aria-live"), "polite");
    assert.match(await text(said), /^You are number \d+ in line\. Estimated wait (about|up to) .+\.$/);
    assert.equal(await page.locator(".queue-figures[aria-live], .queue-figures [aria-live]").count(), 0);
    await shot(page, "37-waiting-range");

    // The line moves (a place every 5 s): the position follows every status, the announcement
    // only when the range's words change.
    const seen = await watchChanges(page);
    await page.waitForFunction(() => window.__waitingSeen.positions.length >= 4, null, { timeout: 45_000 });
    const { positions, announcements } = await seen();
    const numbers = positions.map(Number);
    for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] < numbers[i - 1], `the position only moves up: ${numbers}`);
    assert.ok(announcements.length < positions.length, `announced ${announcements.length} times for ${positions.length} positions: ${announcements.join(" | ")}`);
    assert.match(await text(range), /^(about|up to) /);

    // Paused: no range as if the line were moving, and the place is kept.
    await saleAction(BASE_URL, admin, ev.event_id, "pause");
    await page.getByTestId("paused").waitFor();
    await range.waitFor({ state: "detached" });
    assert.equal(await text(page.getByTestId("eta")), "Estimated wait: unknown until admission resumes");
    assert.equal(await page.getByTestId("eta-point").count(), 0);
    await page.getByTestId("wait-announcement").filter({ hasText: "Estimated wait unknown until admission resumes." }).waitFor();
    await shot(page, "38-waiting-paused-no-range");
    // Resumed: the range is back.
    await saleAction(BASE_URL, admin, ev.event_id, "resume");
    await range.waitFor({ timeout: T });
    u.check();
    await u.close();
  });

  test("a place beyond the stock is told the tickets will likely run out, keeps its place, and can leave", { skip }, async () => {
    const admin = await adminToken(BASE_URL);
    // Two places, nobody has bought: everyone beyond the second is unlikely to get one.
    const ev = await createEvent(BASE_URL, admin, { name: uniqueName("Two places"), capacity: 2, admission_rate_per_sec: 0.2 });
    for (let i = 0; i < 6; i++) await joinAnonymously(BASE_URL, ev.event_id);
    const u = await newUser(browser);
    const { page } = u;
    await joinFromPage(page, ev.event_id);

    // What the server tells this place, and the page says the same.
    const status = await statusOf(page, ev.event_id);
    assert.equal(status.status, "waiting");
    assert.ok(status.position >= 3, `behind the two places (position ${status.position})`);
    assert.equal(status.likely_sold_out, true, `the server says this place likely misses out: ${JSON.stringify(status)}`);

    const likely = page.getByTestId("likely-sold-out");
    await likely.waitFor();
    const message = await text(likely);
    assert.match(message, /^Tickets will likely run out before your turn\./);
    assert.match(message, /You keep your place in case some come back: you can stay in line or leave\./);
    assert.match(message, /Whether any come back should be clear in (about \d+ (seconds?|minutes?)|any moment now)\./);
    // No wait is promised.
    assert.equal(await page.getByTestId("eta-range").count(), 0);
    assert.equal(await page.getByTestId("eta").count(), 0);
    assert.match(await text(page.getByTestId("wait-announcement")), /^You are number \d+ in line\. Tickets will likely run out before your turn\./);
    // The position shown is the server's (read again until the line holds still for a moment).
    await showsServerPosition(page, ev.event_id);
    const leave = page.getByRole("button", { name: "Leave the waiting room" });
    assert.ok(await leave.isVisible(), "leaving is offered");
    await shot(page, "39-waiting-likely-sold-out");

    // Leaving asks first (a stray tap on a phone must not cost the place): Escape, or Stay in
    // line, keeps it, with the focus back on the button.
    await leave.click();
    const question = page.getByRole("group", { name: "Give up your place?" });
    await question.waitFor();
    assert.match(await question.textContent(), /You give up your place in line \(number \d+\): joining again puts you at the back\./);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Stay in line", "the focus starts on the answer that changes nothing");
    await shot(page, "48-waiting-leave-asks-first");
    await page.keyboard.press("Escape");
    assert.equal(await question.count(), 0);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Leave the waiting room");
    assert.equal((await statusOf(page, ev.event_id)).status, "waiting", "the place is kept");
    // Leaving gives the place up and goes back to the event.
    await leave.click();
    await page.getByRole("button", { name: "Yes, leave the waiting room" }).click();
    await page.waitForURL(new RegExp(`/events/${ev.event_id}$`));
    await page.getByRole("button", { name: "Join the waiting room" }).waitFor();
    u.check();
    await u.close();
  });

  test("a 429 with Retry-After holds the page's polling back that long, and the line is followed again after it", async () => {
    const u = await newUser(browser, { phone: true });
    const { page } = u;
    // The stream is refused (the page falls back to polling) and the status is rate-limited for 6 s.
    const polls = [];
    const limited = { status: 429, headers: { "Retry-After": "6" }, contentType: "application/json" };
    await page.route("**/api/v1/queue/stream*", (r) =>
      r.fulfill({ ...limited, status: 503, body: JSON.stringify({ error: { code: "UNAVAILABLE", message: "busy", trace_id: "t-stream" } }) }));
    await page.route("**/api/v1/queue/status*", (r) => {
      polls.push(Date.now());
      return r.fulfill({ ...limited, body: JSON.stringify({ error: { code: "RATE_LIMITED", message: "too many requests", trace_id: "t-status" } }) });
    });
    await page.goto(`${BASE_URL}/events/evt_demo_ga`);
    await page.getByRole("button", { name: "Join the waiting room" }).click();
    await page.waitForURL(/\/waiting$/);
    const alert = page.locator('[data-error-code="RATE_LIMITED"]');
    await alert.waitFor();
    assert.match(await alert.textContent(), /try again in 6 seconds/);
    await shot(page, "45-waiting-rate-limited");
    // Inside the 6 s the server asked for, the page does not ask again (it once polled every 2 s).
    await page.waitForTimeout(4_500);
    assert.equal(polls.length, 1, `one status asked for within the Retry-After (got ${polls.length})`);
    // The limit is over: the next poll, at the end of the wait, brings the real status (the turn).
    await page.unrouteAll();
    await page.getByRole("link", { name: "Log in or register to continue" }).waitFor({ timeout: T });
    assert.equal(await alert.count(), 0, "the error is gone once the status comes");
    u.check();
    await u.close();
  });

  test("a turn used in a second tab of the same place is said so in the first, not as a turn missed", async () => {
    const u = await newUser(browser);
    const first = u.page;
    await first.goto(`${BASE_URL}/events/evt_demo_ga`);
    await first.getByRole("button", { name: "Join the waiting room" }).click();
    await first.getByRole("link", { name: "Log in or register to continue" }).waitFor();
    // The tab duplicated (the browser copies its sessionStorage: the same waiting token), and the
    // buyer, signed in there, is let in from it.
    const flow = await first.evaluate(() => sessionStorage.getItem("tacos.flow.evt_demo_ga"));
    const account = await registerOverApi(BASE_URL);
    const second = await u.context.newPage();
    await second.goto(`${BASE_URL}/`);
    await second.evaluate(([f, s]) => {
      sessionStorage.setItem("tacos.flow.evt_demo_ga", f);
      sessionStorage.setItem("tacos.session", s);
    }, [flow, JSON.stringify({ token: account.token, user_id: account.user_id, username: account.username, role: "user", expires_in: 86400 })]);
    await second.goto(`${BASE_URL}/events/evt_demo_ga/waiting`);
    await second.waitForURL(/\/reserve$/);
    // The first tab learns that the turn was used: it says where, not that the buyer was too late.
    const passed = first.getByTestId("turn-passed");
    await passed.waitFor();
    assert.match(await passed.textContent(), /used in another tab or window: continue there/);
    assert.doesNotMatch(await passed.textContent(), /did not enter in time/);
    await shot(first, "46-turn-used-in-another-tab");
    u.check();
    await u.close();
  });

  test("a turn not taken within its 30 s is said to have passed, by the page itself, with a way back in line", async () => {
    const u = await newUser(browser, { phone: true });
    const { page } = u;
    await page.goto(`${BASE_URL}/events/evt_demo_ga`);
    await page.getByRole("button", { name: "Join the waiting room" }).click();
    await page.getByRole("link", { name: "Log in or register to continue" }).waitFor();
    // The buyer does not log in: the server gives the turn up after 30 s, and the page, still
    // following it, stops offering it (it once said "It is your turn!" for ever).
    const passed = page.getByTestId("turn-passed");
    await passed.waitFor({ timeout: 45_000 });
    assert.match(await passed.textContent(), /You did not enter in time/);
    assert.equal(await page.getByRole("link", { name: "Log in or register to continue" }).count(), 0);
    await shot(page, "47-phone-turn-lapsed");
    await page.getByRole("button", { name: "Join the waiting room again" }).click();
    await page.getByRole("link", { name: "Log in or register to continue" }).waitFor();
    u.check();
    await u.close();
  });
});
