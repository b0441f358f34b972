// Browser tests of the hold page when the buyer's tab is reloaded, loses an answer or changes hands
// mid-purchase, run by scripts/browser.sh: the page follows the payment the server knows of (never
// offering to pay twice), and never shows a hold to anyone but its buyer.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ADMIN_PASSWORD, BASE_URL, T,
  adminToken, createEvent, joinAndEnter, launch, newUser, pay, saleAction, shot, uniqueName,
} from "./support.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** From the event page to a hold of one general-admission ticket; resolves on the hold page. */
async function holdOneTicket(page) {
  await joinAndEnter(page, BASE_URL, "evt_demo_ga");
  await page.getByRole("button", { name: "Hold 1 ticket" }).click();
  await page.waitForURL(/\/reservations\/rsv_[^/]+$/);
  await page.getByRole("timer").waitFor();
}

/** Counts the page's payment calls (`POST /payments/intent` and `/payments/process`). */
function countPayments(page) {
  const sent = { intent: 0, process: 0 };
  page.on("request", (r) => {
    if (r.method() !== "POST") return;
    if (r.url().endsWith("/api/v1/payments/intent")) sent.intent++;
    if (r.url().endsWith("/api/v1/payments/process")) sent.process++;
  });
  return sent;
}

/**
 * Keeps the page seeing the reservation as the server first answers it with a payment under way
 * (`HOLD` with its `payment_intent_id`), however soon the bank decides (the simulator's `delay` is
 * 2 s: a reload on a slow machine could take as long), until `release()` lets the server's own
 * answers through again.
 */
async function holdUnderWayView(page) {
  const glob = "**/api/v1/reservations/rsv_*";
  let seen = null;
  await page.route(glob, async (route) => {
    if (seen) return route.fulfill({ status: 200, contentType: "application/json", body: seen });
    const res = await route.fetch();
    const body = await res.text();
    const r = JSON.parse(body);
    if (r.status === "HOLD" && r.payment_intent_id) seen = body;
    return route.fulfill({ response: res, body });
  });
  return () => page.unroute(glob);
}

describe("hold page", () => {
  test("reloaded while the bank answers: the payment under way is followed, not offered again, and confirms", async () => {
    const u = await newUser(browser, { phone: true });
    const { page } = u;
    await holdOneTicket(page);
    const sent = countPayments(page);
    // The bank takes a couple of seconds: the reload lands while the payment is under way.
    const release = await holdUnderWayView(page);
    await pay(page, "delay");
    await page.getByText("Waiting for the bank's answer…").waitFor();
    await page.reload();
    // The page learns from the server that a payment is under way: it waits for it, and offers
    // neither a second payment nor a cancellation meanwhile.
    await page.getByTestId("payment-phase").getByText("Waiting for the bank's answer…").waitFor();
    assert.equal(await page.getByRole("button", { name: /^Pay / }).count(), 0, "no second payment offered");
    assert.equal(await page.getByRole("button", { name: "Processing payment…" }).isDisabled(), true);
    assert.equal(await page.getByRole("button", { name: "Cancel hold" }).isDisabled(), true);
    await shot(page, "40-phone-reloaded-mid-payment");
    // The delayed approval comes, and the page goes on by itself.
    await release();
    await page.waitForURL(/\/confirmation$/, { timeout: 30_000 });
    assert.match(await page.getByTestId("order-id").textContent(), /^ord_/);
    assert.deepEqual(sent, { intent: 1, process: 1 }, "the one payment, nothing paid again after the reload");
    u.check();
    await u.close();
  });

  test("the payment's answer is lost on the way back: the page says so, then follows the payment the server took", async () => {
    const u = await newUser(browser);
    const { page } = u;
    await holdOneTicket(page);
    const sent = countPayments(page);
    // The server takes the payment, but its answer never reaches the page (the connection drops).
    await page.route("**/api/v1/payments/process", async (route) => {
      await route.fetch();
      await route.abort("connectionreset");
    });
    const release = await holdUnderWayView(page);
    await pay(page, "delay");
    const lost = page.locator('[data-error-code="NETWORK_ERROR"]');
    await lost.waitFor();
    assert.match(await lost.textContent(), /Cannot reach the server/);
    await page.unroute("**/api/v1/payments/process");
    // The reservation names the payment under way: the page waits for its outcome instead of
    // offering to pay again (which the server would refuse: "another payment … is under way").
    await page.getByTestId("payment-phase").getByText("Waiting for the bank's answer…").waitFor();
    assert.equal(await page.getByRole("button", { name: /^Pay / }).count(), 0, "no second payment offered");
    await shot(page, "41-payment-answer-lost");
    await release();
    await page.waitForURL(/\/confirmation$/, { timeout: 30_000 });
    assert.match(await page.getByTestId("order-id").textContent(), /^ord_/);
    assert.deepEqual(sent, { intent: 1, process: 1 }, "one payment, sent once");
    u.check();
    await u.close();
  });

  test("after a logout, Back shows nothing of the previous buyer's hold, and the next buyer is offered no place of theirs", async () => {
    const u = await newUser(browser);
    const { page } = u;
    await holdOneTicket(page);
    const reservation = await page.getByTestId("reservation-id").textContent();
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(`${BASE_URL}/`);
    // On the events page (the router moves in a transition: a Back at once could land before the
    // hold page was ever left, which no person's thumb can do).
    await page.getByRole("heading", { name: "Upcoming events" }).waitFor();
    // The history entry of the hold page still carries the hold as the reserve page passed it.
    await page.goBack();
    await page.waitForURL(/\/reservations\/rsv_[^/]+$/);
    const login = page.locator('[data-error-code="MISSING_AUTHORIZATION"]');
    await login.waitFor({ timeout: T });
    assert.match(await login.textContent(), /Please log in/);
    const main = await page.locator("main").textContent();
    assert.ok(!main.includes(reservation), "the previous buyer's reservation is not shown");
    assert.equal(await page.getByTestId("held-seats").count(), 0);
    assert.equal(await page.getByRole("button", { name: /^Pay / }).count(), 0, "nothing to pay for someone else");
    await shot(page, "42-back-after-logout");
    // The event's page offers the next person no way back to the previous buyer's place.
    await page.goto(`${BASE_URL}/events/evt_demo_ga`);
    await page.getByRole("button", { name: "Join the waiting room" }).waitFor();
    assert.equal(await page.getByRole("link", { name: "Back to my place in line" }).count(), 0);
    const kept = await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith("tacos.")));
    assert.deepEqual(kept, [], "nothing of the purchase is kept in the tab");
    u.check();
    await u.close();
  });

  test("on a phone whose clock is two minutes off, the hold is counted down on the server's clock, and paid", async () => {
    for (const [skew, name] of [[120_000, "43-phone-clock-fast"], [-120_000, "44-phone-clock-slow"]]) {
      const u = await newUser(browser, { phone: true });
      const { page } = u;
      // The page's clock, running normally from two minutes off the server's.
      await u.context.clock.install({ time: Date.now() + skew });
      await holdOneTicket(page);
      // The server's 60 s hold: a minute to pay (not "time is up" at once, nor three minutes).
      const left = Number(await page.getByRole("timer").getAttribute("data-seconds-left"));
      assert.ok(left >= 50 && left <= 61, `a clock ${skew / 1000} s off counts down the server's minute (got ${left} s)`);
      assert.equal(await page.locator('[data-error-code="HOLD_TIME_UP"]').count(), 0);
      await shot(page, name);
      await pay(page, "approve");
      await page.waitForURL(/\/confirmation$/, { timeout: 30_000 });
      assert.match(await page.getByTestId("order-id").textContent(), /^ord_/);
      u.check();
      await u.close();
    }
  });

  test("Cancel hold asks first: keeping the hold changes nothing, releasing it cancels the reservation", async () => {
    const u = await newUser(browser, { phone: true });
    const { page } = u;
    await holdOneTicket(page);
    const cancel = page.getByRole("button", { name: "Cancel hold" });
    await cancel.click();
    const question = page.getByRole("group", { name: "Release your hold?" });
    await question.waitFor();
    assert.match(await question.textContent(), /1 general admission ticket goes back on sale at once, and nothing is charged/);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Keep my hold", "the focus starts on the answer that changes nothing");
    await shot(page, "49-phone-cancel-hold-asks-first");
    await page.getByRole("button", { name: "Keep my hold" }).click();
    assert.equal(await question.count(), 0);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Cancel hold", "the focus is back on the button");
    assert.equal(await page.getByTestId("reservation-status").textContent(), "HOLD");
    await page.getByRole("timer").waitFor();
    await cancel.click();
    await page.getByRole("button", { name: "Yes, release it" }).click();
    const cancelled = page.locator('[data-error-code="CANCELLED"]');
    await cancelled.waitFor();
    assert.match(await cancelled.textContent(), /Reservation cancelled/);
    assert.equal(await page.getByTestId("reservation-status").textContent(), "CANCELLED");
    u.check();
    await u.close();
  });

  test("the sale closed while the buyer chooses: the refused hold is said, and nothing more is offered to hold", { skip: !ADMIN_PASSWORD && "TACOS_ADMIN_PASSWORD not set" }, async () => {
    const admin = await adminToken(BASE_URL);
    const ev = await createEvent(BASE_URL, admin, { name: uniqueName("Closing gig"), capacity: 20, admission_rate_per_sec: 100 });
    const u = await newUser(browser, { phone: true });
    const { page } = u;
    await joinAndEnter(page, BASE_URL, ev.event_id);
    await page.getByLabel(/Number of tickets/).waitFor();
    // The organiser closes the sale while the buyer is choosing.
    await saleAction(BASE_URL, admin, ev.event_id, "close");
    const hold = page.getByRole("button", { name: /^Hold \d+ ticket/ });
    await hold.click();
    const closed = page.locator('[data-error-code="SALE_CLOSED"]');
    await closed.waitFor();
    assert.match(await closed.textContent(), /Sales closed/);
    assert.match(await page.getByTestId("sale-closed").textContent(), /Nothing was held or charged\. See other events/);
    assert.equal(await hold.isDisabled(), true, "no hold offered on a closed sale");
    assert.equal(await page.getByRole("timer").count(), 0, "no time to choose counted down");
    // Choosing anew offers nothing more: the sale is closed for good.
    await page.getByRole("button", { name: "One more ticket" }).click();
    assert.equal(await hold.isDisabled(), true);
    assert.equal(await closed.count(), 1);
    await shot(page, "50-phone-sale-closed-while-choosing");
    await page.getByRole("link", { name: "See other events" }).click();
    await page.getByRole("heading", { name: "Upcoming events" }).waitFor();
    u.check();
    await u.close();
  });
});
