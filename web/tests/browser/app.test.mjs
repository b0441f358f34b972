// Browser tests of the reservation app (issue 6, item 4), run by scripts/browser.sh.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ADMIN_PASSWORD, BASE_URL, SHORT_HOLD_URL, T,
  adminToken, buyOverApi, createEvent, firstFreeSeat, holdSeats, joinAndEnter, joinAnonymously,
  launch, newUser, pay, register, seatButton, shot, slowCpu, uniqueName,
} from "./support.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe("reservation app", () => {
  test("full purchase: join anonymously, wait, register, enter, pick a seat, pay, confirmation", async () => {
    const u = await newUser(browser);
    const { page } = u;
    await page.goto(`${BASE_URL}/`);
    await page.getByRole("link", { name: "Taco Fest 2026: Main Stage" }).waitFor();
    await shot(page, "01-events");
    await page.getByRole("link", { name: "Taco Fest 2026: Main Stage" }).click();
    await page.getByTestId("availability").getByText(/available/).waitFor();
    await shot(page, "02-event-detail");

    await joinAndEnter(page, BASE_URL, "evt_demo", { shots: true });
    const seat = await firstFreeSeat(page);
    // The seat map works from the keyboard: Tab moves between seats, Space chooses.
    await seatButton(page, seat).focus();
    await page.keyboard.press("Tab");
    const next = await page.evaluate(() => document.activeElement?.getAttribute("data-seat"));
    assert.ok(next && next !== seat, `Tab moves to the next seat (${next})`);
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Space");
    assert.equal(await seatButton(page, seat).getAttribute("aria-pressed"), "true");
    await shot(page, "05-seat-map");
    await page.getByRole("button", { name: "Hold 1 seat" }).click();
    await page.waitForURL(/\/reservations\/rsv_/);
    await page.getByRole("timer").waitFor();
    assert.equal(await page.getByTestId("held-seats").textContent(), seat);
    await shot(page, "06-hold-payment");

    await pay(page, "approve");
    await page.waitForURL(/\/confirmation$/, { timeout: 30_000 });
    const order = page.getByTestId("order-id");
    await order.waitFor();
    assert.match(await order.textContent(), /^ord_/);
    assert.equal(await page.getByTestId("order-seats").textContent(), seat);
    assert.equal(await page.getByTestId("order-total").textContent(), "$45.00");
    await shot(page, "07-confirmation");

    // The seat now shows as sold to everyone.
    await page.goto(`${BASE_URL}/events/evt_demo`);
    await page.locator(`button[data-seat="${seat}"][data-status="SOLD"]`).waitFor();
    u.check();
    await u.close();
  });

  test("two buyers race for one seat: exactly one wins, the other is told and picks another", async () => {
    const a = await newUser(browser);
    const b = await newUser(browser);
    await Promise.all([joinAndEnter(a.page, BASE_URL, "evt_demo"), joinAndEnter(b.page, BASE_URL, "evt_demo")]);
    const seat = await firstFreeSeat(a.page);
    await seatButton(a.page, seat).click();
    await seatButton(b.page, seat).click();
    const holdA = a.page.getByRole("button", { name: "Hold 1 seat" });
    const holdB = b.page.getByRole("button", { name: "Hold 1 seat" });
    // On slow devices, so that the seat map's live update (the other buyer's hold) and the
    // countdown's ticks land while the winner's page is moving to its hold: the page once took
    // such a render for "no turn any more" and sent the winner back to the waiting room.
    await Promise.all([slowCpu(a.page, 50), slowCpu(b.page, 50)]);
    await Promise.all([holdA.click(), holdB.click()]);

    // Each page ends either on its hold or with the seat-taken message.
    const outcome = async (p) => {
      const won = p.waitForURL(/\/reservations\/rsv_/).then(() => "won");
      const lost = p.locator('[data-error-code="SEAT_UNAVAILABLE"]').waitFor().then(() => "lost");
      return Promise.race([won, lost]);
    };
    const [ra, rb] = await Promise.all([outcome(a.page), outcome(b.page)]);
    await Promise.all([slowCpu(a.page, 1), slowCpu(b.page, 1)]);
    assert.deepEqual([ra, rb].sort(), ["lost", "won"], "exactly one buyer holds the seat");
    const winner = ra === "won" ? a : b;
    const loser = ra === "won" ? b : a;
    const alert = loser.page.locator('[data-error-code="SEAT_UNAVAILABLE"]');
    assert.match(await alert.textContent(), new RegExp(`Seat taken.*${seat}.*just taken by someone else`));
    // The loser's choice was cleared and the seat shows as held.
    await loser.page.locator(`button[data-seat="${seat}"][data-status="HELD"]`).waitFor();
    assert.equal(await seatButton(loser.page, seat).getAttribute("aria-pressed"), "false");
    await shot(loser.page, "08-error-seat-taken");
    assert.equal(await winner.page.getByTestId("held-seats").textContent(), seat);

    // The loser picks another seat and holds it.
    const other = await firstFreeSeat(loser.page);
    assert.notEqual(other, seat);
    await holdSeats(loser.page, [other]);
    assert.equal(await loser.page.getByTestId("held-seats").textContent(), other);
    a.check();
    b.check();
    await a.close();
    await b.close();
  });

  test("a failed payment is reported and the seat released", async () => {
    const u = await newUser(browser);
    const { page } = u;
    await joinAndEnter(page, BASE_URL, "evt_demo");
    const seat = await firstFreeSeat(page);
    await holdSeats(page, [seat]);
    await pay(page, "fail");
    const failed = page.locator('[data-error-code="PAYMENT_FAILED"]');
    await failed.waitFor({ timeout: 30_000 });
    assert.match(await failed.textContent(), /Payment failed.*declined.*nothing was charged.*released/);
    assert.equal(await page.getByTestId("reservation-status").textContent(), "CANCELLED");
    await shot(page, "09-error-payment-failed");
    await page.getByRole("link", { name: "Back to the event" }).click();
    await page.locator(`button[data-seat="${seat}"][data-status="AVAILABLE"]`).waitFor();
    u.check();
    await u.close();
  });

  test("an expired hold: the countdown reaches zero, the page says so, the seat is free again", async () => {
    const u = await newUser(browser);
    const { page } = u;
    await joinAndEnter(page, SHORT_HOLD_URL, "evt_demo");
    const seat = await firstFreeSeat(page);
    await holdSeats(page, [seat]);
    const timer = page.getByRole("timer");
    const left = Number(await timer.getAttribute("data-seconds-left"));
    assert.ok(left > 0 && left <= 10, `short hold counts down from at most 10 s (got ${left})`);
    const expired = page.locator('[data-error-code="RESERVATION_EXPIRED"]');
    await expired.waitFor({ timeout: 40_000 });
    assert.match(await expired.textContent(), /Your hold expired.*released/);
    assert.equal(await page.getByTestId("reservation-status").textContent(), "EXPIRED");
    await shot(page, "10-error-hold-expired");
    await page.getByRole("link", { name: "Back to the event" }).click();
    await page.locator(`button[data-seat="${seat}"][data-status="AVAILABLE"]`).waitFor();
    u.check();
    await u.close();
  });

  test("a turn not used in time: the page says it ran out, holds nothing, and lets the buyer join again", async () => {
    const u = await newUser(browser);
    const { page } = u;
    // The page's own clock, running normally, so the 30 s of the turn can be skipped over.
    await u.context.clock.install();
    await joinAndEnter(page, BASE_URL, "evt_demo");
    const seat = await firstFreeSeat(page);
    await seatButton(page, seat).click();
    const hold = page.getByRole("button", { name: "Hold 1 seat" });
    assert.equal(await hold.isEnabled(), true);
    await page.clock.fastForward("00:31");
    const ran_out = page.locator('[data-error-code="TOKEN_EXPIRED"]');
    await ran_out.waitFor();
    assert.match(await ran_out.textContent(), /Your time to choose ran out.*Nothing was held/);
    assert.equal(await hold.isDisabled(), true, "no hold is attempted with a spent turn");
    await shot(page, "11-turn-ran-out");
    // Back in line with a new waiting token, and in again with a fresh turn.
    // (Admission is quick here: the waiting page may come and go before a test could see it.)
    await page.getByRole("button", { name: "Join the waiting room again" }).click();
    await page.getByText("Time left to choose:").waitFor({ timeout: 60_000 });
    assert.match(page.url(), /\/events\/evt_demo\/reserve$/);
    assert.equal(await page.locator('[data-error-code="TOKEN_EXPIRED"]').count(), 0);
    await seatButton(page, seat).waitFor();
    assert.equal(await seatButton(page, seat).getAttribute("data-status"), "AVAILABLE", "nothing was held");
    u.check();
    await u.close();
  });

  test("general admission on a phone: a quantity of tickets bought", async () => {
    const u = await newUser(browser, { phone: true });
    const { page } = u;
    await page.goto(`${BASE_URL}/`);
    await page.getByRole("link", { name: /Taco Truck Night/ }).waitFor();
    await shot(page, "11-phone-events");
    await joinAndEnter(page, BASE_URL, "evt_demo_ga");
    await page.getByLabel(/Number of tickets/).waitFor();
    await page.getByRole("button", { name: "One more ticket" }).click();
    await page.getByRole("button", { name: "One more ticket" }).click();
    assert.equal(await page.getByLabel(/Number of tickets/).inputValue(), "3");
    await shot(page, "12-phone-ga-picker");
    await page.getByRole("button", { name: "Hold 3 tickets" }).click();
    await page.waitForURL(/\/reservations\/rsv_/);
    await shot(page, "13-phone-hold-payment");
    await pay(page, "delay");
    await page.getByText("Waiting for the bank's answer…").waitFor();
    await page.waitForURL(/\/confirmation$/, { timeout: 30_000 });
    assert.match(await page.getByTestId("order-id").textContent(), /^ord_/);
    assert.equal(await page.getByTestId("order-seats").textContent(), "3 general admission");
    assert.equal(await page.getByTestId("order-total").textContent(), "$45.00");
    await shot(page, "14-phone-confirmation");
    u.check();
    await u.close();
  });

  test("the waiting room shows a live position that moves up, then lets the buyer in", { skip: !ADMIN_PASSWORD && "TACOS_ADMIN_PASSWORD not set" }, async () => {
    const admin = await adminToken(BASE_URL);
    const ev = await createEvent(BASE_URL, admin, { name: uniqueName("Slow line"), capacity: 100, admission_rate_per_sec: 1 });
    for (let i = 0; i < 6; i++) await joinAnonymously(BASE_URL, ev.event_id);
    const u = await newUser(browser);
    const { page } = u;
    await page.goto(`${BASE_URL}/events/${ev.event_id}`);
    await page.getByRole("button", { name: "Join the waiting room" }).click();
    const position = page.getByTestId("position");
    await position.waitFor();
    const first = Number(await position.textContent());
    assert.ok(first >= 2, `people ahead (position ${first})`);
    assert.equal(await page.getByRole("progressbar").count(), 1);
    await shot(page, "15-waiting-position");
    // The line moves: a smaller position, or already admitted (on a slow machine the audit and
    // screenshot above can take as long as the line).
    await page.waitForFunction(
      (f) => {
        const p = document.querySelector('[data-testid="position"]');
        return p ? Number(p.textContent) < f : document.body.textContent.includes("It is your turn");
      },
      first,
      { timeout: T },
    );
    // Register while waiting: the place is kept and entry is automatic.
    await page.getByRole("link", { name: "log in or register now" }).click();
    await register(page);
    await page.waitForURL(/\/waiting$/);
    await page.waitForURL(/\/reserve$/, { timeout: 60_000 });
    await page.getByLabel(/Number of tickets/).waitFor();
    u.check();
    await u.close();
  });

  test("sold out is said plainly", { skip: !ADMIN_PASSWORD && "TACOS_ADMIN_PASSWORD not set" }, async () => {
    const admin = await adminToken(BASE_URL);
    const ev = await createEvent(BASE_URL, admin, { name: uniqueName("Tiny gig"), capacity: 1, admission_rate_per_sec: 100 });
    await buyOverApi(BASE_URL, ev.event_id, 1);
    const u = await newUser(browser);
    const { page } = u;
    await page.goto(`${BASE_URL}/events/${ev.event_id}`);
    await page.getByText("Sold out: there is nothing left to sell.").waitFor();
    assert.equal(await page.getByRole("button", { name: "Join the waiting room" }).count(), 0);
    await shot(page, "16-error-sold-out");
    u.check();
    await u.close();
  });

  test("rate limits, outages and network failures are explained, never hidden", async () => {
    const u = await newUser(browser);
    const { page } = u;
    const join = page.getByRole("button", { name: "Join the waiting room" });
    const cases = [
      { name: "17-error-rate-limited", route: (r) => r.fulfill({ status: 429, headers: { "Retry-After": "7", "Content-Type": "application/json" }, body: JSON.stringify({ error: { code: "RATE_LIMITED", message: "too many requests", trace_id: "t1" } }) }), expect: /Too many requests.*try again in 7 seconds/ },
      { name: "18-error-unavailable", route: (r) => r.fulfill({ status: 503, headers: { "Retry-After": "1", "Content-Type": "application/json" }, body: JSON.stringify({ error: { code: "UNAVAILABLE", message: "store unavailable", trace_id: "t2" } }) }), expect: /Service busy.*try again in 1 second/i },
      { name: "19-error-network", route: (r) => r.abort("connectionrefused"), expect: /Cannot reach the server.*Nothing was bought/ },
    ];
    const sent = [];
    await page.goto(`${BASE_URL}/events/evt_demo`);
    for (const c of cases) {
      await page.unrouteAll();
      await page.route("**/api/v1/queue/join", (r) => {
        sent.push(r.request().headers());
        return c.route(r);
      });
      await join.click();
      const alert = page.getByRole("alert").filter({ hasText: c.expect });
      await alert.waitFor();
      assert.match(page.url(), /\/events\/evt_demo$/, "stays on the event page: no pretend success");
      await shot(page, c.name);
    }
    // A retry of the same action reuses its Idempotency-Key; every call carries a traceparent.
    const keys = new Set(sent.map((h) => h["idempotency-key"]));
    assert.equal(keys.size, 1, "same key on retries of one join");
    assert.match([...keys][0], /^[0-9a-f-]{36}$/);
    for (const h of sent) assert.match(h.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // Once the server answers, the join goes through with that same key.
    await page.unrouteAll();
    await join.click();
    await page.waitForURL(/\/waiting$/);
    u.check();
    await u.close();
  });

  test("with ws_url in config.json the app listens on the WebSocket, and polls when it fails", async () => {
    const u = await newUser(browser);
    const { page } = u;
    const wsUrl = `${BASE_URL.replace(/^http/, "ws")}/test-ws`;
    await page.route("**/config.json", (r) => r.fulfill({ contentType: "application/json", body: JSON.stringify({ api_base_url: "", ws_url: wsUrl }) }));
    const queries = [];
    let socket;
    await page.routeWebSocket(/\/test-ws/, (ws) => {
      queries.push(new URL(ws.url()).searchParams);
      socket = ws;
      const { searchParams } = new URL(ws.url());
      if (searchParams.get("token")) {
        ws.send(JSON.stringify({ type: "queue", data: { status: "waiting", position: 42, eta_sec: 9, waiting_time: 1, ready_for_entry: false, event_id: "evt_demo_ga", sold_out: false, entered: false } }));
      } else {
        ws.send(JSON.stringify({ type: "availability", data: { event_id: "evt_demo_ga", total: 500, available: 123, held: 7, sold: 370, seats: [] } }));
      }
    });
    await page.goto(`${BASE_URL}/events/evt_demo_ga`);
    await page.getByText("123 of 500 available · 7 held · 370 sold").waitFor();
    await page.getByRole("button", { name: "Join the waiting room" }).click();
    await page.getByTestId("position").getByText("42").waitFor();
    assert.match(await page.getByTestId("transport").textContent(), /WebSocket/);
    const queue = queries.find((q) => q.get("token"));
    assert.equal(queue.get("event_id"), "evt_demo_ga");
    assert.match(queue.get("token"), /^wtkn_/);
    // The socket goes away: the page falls back to polling and sees the real status (admitted).
    await socket.close();
    await page.getByRole("link", { name: "Log in or register to continue" }).waitFor();
    assert.match(await page.getByTestId("transport").textContent(), /every 2 seconds/);
    u.check();
    await u.close();
  });

  test("operator page charts the server's live /metrics during an on-sale", async () => {
    const u = await newUser(browser);
    const { page } = u;
    await page.goto(`${BASE_URL}/operator`);
    await page.waitForFunction(() => Number(document.querySelector(".charts")?.getAttribute("data-points")) >= 1, null, { timeout: T });
    // An on-sale while the page watches: buyers purchase general-admission tickets over the API,
    // so holds, sales, admissions and request latency move between the page's scrapes.
    const admin = await adminToken(BASE_URL);
    const ga = await createEvent(BASE_URL, admin, { name: uniqueName("Operator rush"), capacity: 50, admission_rate_per_sec: 20 });
    const before = Number(await page.getByTestId("tile-sales").textContent());
    // Browsing goes on throughout, so every scrape interval has requests to measure.
    let browsing = true;
    const browse = (async () => {
      while (browsing) {
        await fetch(`${BASE_URL}/api/v1/events/${ga.event_id}/availability`).then((r) => r.arrayBuffer());
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await Promise.all(Array.from({ length: 6 }, () => buyOverApi(BASE_URL, ga.event_id, 2)));
    await page.waitForFunction(
      (b) => Number(document.querySelector('[data-testid="tile-sales"]')?.textContent) >= b + 6 &&
        Number(document.querySelector(".charts")?.getAttribute("data-points")) >= 4,
      before, { timeout: T });
    assert.equal(await page.locator('[data-error-code="METRICS_UNAVAILABLE"]').count(), 0);
    assert.equal(await page.locator(".chart canvas").count(), 4);
    assert.ok(Number(await page.getByTestId("tile-rejected").textContent()) >= 1, "the seat race's loser was counted");
    assert.match(await page.getByText("Latency p50 / p95").locator("xpath=..").textContent(), /\d+(\.\d+)? \/ \d+(\.\d+)? ms/);
    await shot(page, "20-operator");
    browsing = false;
    await browse;
    u.check();
    await u.close();
  });

  test("operator page on AWS: no /metrics to chart, so it says so and links the CloudWatch dashboard", async () => {
    const u = await newUser(browser);
    const { page } = u;
    const dashboard = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/tacos-operator";
    // As deploy/web.sh writes config.json from the stack's outputs; API Gateway has no /metrics route.
    await page.route("**/config.json", (r) =>
      r.fulfill({ contentType: "application/json", body: JSON.stringify({ api_base_url: "", ws_url: null, metrics_dashboard_url: dashboard }) }));
    await page.route("**/metrics", (r) =>
      r.fulfill({ status: 404, contentType: "application/json", body: JSON.stringify({ message: "Not Found" }) }));
    await page.goto(`${BASE_URL}/operator`);
    const banner = page.locator('[data-error-code="METRICS_UNAVAILABLE"]');
    await banner.waitFor();
    assert.match(await banner.textContent(), /cannot be read right now \(\/metrics answered 404\)/);
    const link = page.getByRole("link", { name: "open the operator dashboard" });
    await link.waitFor();
    assert.equal(await link.getAttribute("href"), dashboard);
    assert.equal(await page.locator(".chart canvas").count(), 0, "no empty charts pretending to be live");
    await shot(page, "21-operator-on-aws");
    u.check();
    await u.close();
  });
});
