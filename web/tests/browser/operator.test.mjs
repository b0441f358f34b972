// Browser tests of the operator page's sale controls and audit log (issue 16, item 2), run by
// scripts/browser.sh. The demo events are shared with the other files: the demo sale is only
// paused, changed and given back as it was; Close is tried on events made for it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ADMIN_PASSWORD, BASE_URL,
  adminToken, createEvent, getEvent, launch, newUser, registerOverApi, saleAction, shot, sticksOut, uniqueName,
} from "./support.mjs";

const skip = !ADMIN_PASSWORD && "TACOS_ADMIN_PASSWORD not set";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Logs in with the operator page's own form (an administrator's by default). */
async function signIn(page, { username = "admin", password = ADMIN_PASSWORD } = {}) {
  const form = page.getByRole("form", { name: "Log in as an administrator" });
  await form.waitFor();
  assert.equal(await form.getByLabel("Username").inputValue(), "admin", "the administrator's name is filled in");
  await form.getByLabel("Username").fill(username);
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Log in" }).click();
}

/** Waits until `locator`'s text matches `text` (a string: the whole text). */
async function hasText(locator, text) {
  const want = typeof text === "string" ? new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) : text;
  await locator.filter({ hasText: want }).waitFor();
}

const state = (page) => page.getByTestId("sale-state");
const button = (page, name) => page.getByRole("button", { name, exact: true });
const newestEntry = (page) => page.locator('[data-testid="audit-log"] tbody tr').first();

/** Waits for the audit log's newest entry to be `action`; returns its text. */
async function newest(page, action) {
  await page.locator(`[data-testid="audit-log"] tbody tr:first-child[data-action="${action}"]`).waitFor();
  return newestEntry(page).textContent();
}

describe("operator page: sale controls", () => {
  test("an administrator pauses the demo sale (a waiting buyer is told), changes its rate and resumes it", { skip }, async () => {
    const admin = await adminToken(BASE_URL);
    const original = (await getEvent(BASE_URL, "evt_demo_ga")).sale;
    assert.equal(original.state, "open");
    const op = await newUser(browser);
    const buyer = await newUser(browser);
    try {
      const { page } = op;
      await page.goto(`${BASE_URL}/operator`);
      await signIn(page);
      await shot(page, "23-operator-signed-in");
      // Picks the event; the address keeps it.
      await page.getByLabel("Event", { exact: true }).selectOption("evt_demo_ga");
      await page.waitForURL(/\/operator\?event=evt_demo_ga$/);
      await hasText(state(page), "Open");
      assert.equal(await page.getByTestId("sale-rate").textContent(), "500 people per second");
      assert.equal(await page.getByTestId("sale-hold").textContent(), "60 s");

      // Pause, from the keyboard: the button keeps the focus, the state is the server's answer.
      await button(page, "Pause sale").focus();
      await page.keyboard.press("Enter");
      await hasText(state(page), "Paused");
      assert.match(await page.getByTestId("sale-done").textContent(), /Sale paused/);
      assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), "Pause sale");
      assert.equal(await button(page, "Pause sale").getAttribute("aria-disabled"), "true");
      assert.equal(await button(page, "Resume sale").getAttribute("aria-disabled"), "false");
      assert.equal((await getEvent(BASE_URL, "evt_demo_ga")).sale.state, "paused");
      const paused = await newest(page, "pause");
      assert.match(paused, /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
      assert.match(paused, /usr_\S+ \(you\)/);
      assert.match(paused, /Paused.*state: open → paused/);
      await shot(page, "24-operator-paused");

      // A buyer joining now waits, and is told why.
      const b = buyer.page;
      await b.goto(`${BASE_URL}/events/evt_demo_ga`);
      await b.getByRole("button", { name: "Join the waiting room" }).click();
      await b.waitForURL(/\/waiting$/);
      await hasText(b.getByTestId("paused"), "Admission paused by the organiser — you keep your place.");
      assert.equal(await b.getByRole("link", { name: "Log in or register to continue" }).count(), 0, "nobody is let in while paused");
      await shot(b, "25-waiting-paused");

      // The rate: checked before it is sent, then changed.
      const rate = page.getByLabel("Admission rate (people per second)");
      await rate.fill("0");
      await button(page, "Save settings").click();
      await hasText(page.getByTestId("settings-problem"), /admission rate must be a number above 0/);
      assert.equal(await rate.getAttribute("aria-invalid"), "true");
      await shot(page, "26-operator-settings-invalid");
      await rate.fill("250");
      await rate.press("Enter");
      await hasText(page.getByTestId("sale-rate"), "250 people per second");
      assert.equal(await page.getByTestId("settings-problem").count(), 0);
      assert.match(await newest(page, "update"), /Changed settings.*rate: 500\/s → 250\/s/);
      const changed = await getEvent(BASE_URL, "evt_demo_ga");
      assert.equal(changed.sale.admission_rate_per_sec, 250);
      assert.equal(changed.admission_rate_per_sec, 250, "the event shows the rate in force");
      assert.equal(changed.sale.state, "paused", "changing the rate does not resume the sale");

      // Resume: the buyer who kept their place is let in.
      await button(page, "Resume sale").click();
      await hasText(state(page), "Open");
      assert.match(await page.getByTestId("sale-done").textContent(), /Sale resumed: admitting 250 people per second/);
      assert.match(await newest(page, "resume"), /Resumed.*state: paused → open/);
      assert.deepEqual(
        (await page.locator('[data-testid="audit-log"] tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action")))).slice(0, 3),
        ["resume", "update", "pause"],
        "the log, newest first",
      );
      await shot(page, "27-operator-resumed");
      await b.getByRole("link", { name: "Log in or register to continue" }).waitFor({ timeout: 60_000 });
      assert.equal(await b.getByTestId("paused").count(), 0);
      op.check();
      buyer.check();
    } finally {
      // The demo sale as the other tests expect it.
      const now = (await getEvent(BASE_URL, "evt_demo_ga")).sale;
      if (now.state === "paused") await saleAction(BASE_URL, admin, "evt_demo_ga", "resume");
      if (now.admission_rate_per_sec !== original.admission_rate_per_sec || now.hold_seconds !== original.hold_seconds) {
        await saleAction(BASE_URL, admin, "evt_demo_ga", "update", {
          admission_rate_per_sec: original.admission_rate_per_sec,
          hold_seconds: original.hold_seconds,
        });
      }
      await op.close();
      await buyer.close();
    }
  });

  test("Close asks first and is for good: a second operator's stale Resume is refused (409), the waiting buyer is told", { skip }, async () => {
    const admin = await adminToken(BASE_URL);
    const ev = await createEvent(BASE_URL, admin, {
      name: uniqueName("Close test"), venue: "Hall", starts_at: "2030-01-01T00:00:00Z", price: 1000, capacity: 10,
    });
    // Paused, so that a buyer is still waiting when the sale closes.
    await saleAction(BASE_URL, admin, ev.event_id, "pause");
    const buyer = await newUser(browser);
    await buyer.page.goto(`${BASE_URL}/events/${ev.event_id}`);
    await buyer.page.getByRole("button", { name: "Join the waiting room" }).click();
    await buyer.page.getByTestId("paused").waitFor();

    // Two operators have the sale open.
    const a = await newUser(browser);
    const b = await newUser(browser);
    for (const op of [a, b]) {
      await op.page.goto(`${BASE_URL}/operator?event=${ev.event_id}`);
      await signIn(op.page);
      await hasText(state(op.page), "Paused");
    }
    const page = a.page;

    // Close asks first; Escape (or "Keep the sale") keeps it, and the focus goes back.
    const close = button(page, "Close sale…");
    await close.click();
    const confirm = page.getByRole("group", { name: /^Close the sale of .* for good\?$/ });
    await confirm.waitFor();
    assert.equal(await close.getAttribute("aria-expanded"), "true");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Keep the sale", "the safe choice has the focus");
    await shot(page, "28-operator-close-confirm");
    await page.keyboard.press("Escape");
    await confirm.waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Close sale…");
    assert.equal((await getEvent(BASE_URL, ev.event_id)).sale.state, "paused", "nothing was sent");

    // Confirmed: closed for good, and nothing but the log is left to do.
    await close.click();
    await button(page, "Yes, close the sale for good").click();
    await hasText(state(page), "Closed");
    assert.equal(await page.getByTestId("sale-done").textContent(), "Sale closed for good.");
    for (const name of ["Pause sale", "Resume sale", "Close sale…"]) {
      assert.equal(await button(page, name).getAttribute("aria-disabled"), "true", `${name} is off`);
    }
    assert.equal(await page.getByLabel("Admission rate (people per second)").count(), 0);
    await page.getByText("A closed sale cannot be changed.").waitFor();
    assert.match(await newest(page, "close"), /Closed.*state: paused → closed/);
    await shot(page, "29-operator-closed");

    // The other operator still sees it paused: the server refuses the Resume, the page says so
    // and shows the sale as it is.
    await button(b.page, "Resume sale").click();
    const refused = b.page.locator('[data-error-code="SALE_CLOSED"]');
    await refused.waitFor();
    assert.match(await refused.textContent(), /Sales closed.*cannot be reopened/);
    await hasText(state(b.page), "Closed");
    await shot(b.page, "30-operator-sale-closed-409");
    await assert.rejects(saleAction(BASE_URL, admin, ev.event_id, "resume"), /409 .*SALE_CLOSED/);

    // The buyer still in line is told the sale is over.
    const ended = buyer.page.getByTestId("sale-closed");
    await ended.waitFor();
    assert.match(await ended.textContent(), /Sales for this event are closed/);
    assert.equal(await buyer.page.getByTestId("position").count(), 0);
    await shot(buyer.page, "31-waiting-sale-closed");
    for (const u of [a, b, buyer]) {
      u.check();
      await u.close();
    }
  });

  test("refusals are said in words: a buyer's account (403), an ended session (401), 429, 503 and 400", { skip }, async () => {
    const admin = await adminToken(BASE_URL);
    const ev = await createEvent(BASE_URL, admin, { name: uniqueName("Operator errors"), capacity: 10 });
    const account = await registerOverApi(BASE_URL);
    const u = await newUser(browser);
    const { page } = u;
    await page.goto(`${BASE_URL}/operator?event=${ev.event_id}`);

    // 403: a buyer's account is not an administrator's.
    await signIn(page, { username: account.username, password: account.password });
    await page.getByText(`You are logged in as ${account.username}, who is not an administrator`).waitFor();
    const log = page.getByTestId("audit-log");
    await log.locator('[data-error-code="FORBIDDEN"]').waitFor();
    assert.match(await log.textContent(), /Not allowed.*this route is for administrators/);
    await button(page, "Pause sale").click();
    const refused = page.getByTestId("sale").locator('[data-error-code="FORBIDDEN"]');
    await refused.waitFor();
    assert.match(await refused.textContent(), /Not allowed.*administrators/);
    await hasText(state(page), "Open");
    assert.equal((await getEvent(BASE_URL, ev.event_id)).sale.state, "open");
    await shot(page, "32-operator-forbidden");

    // 401: a token the server does not accept ends the session, and the page says why. The sale's
    // state was already shown to the buyer, so it says nothing of the login: wait for the
    // administrator's session itself, or the login's answer could land after the token is spoiled
    // and put the good one back.
    await signIn(page);
    await page.waitForFunction(() => JSON.parse(sessionStorage.getItem("tacos.session") ?? "null")?.role === "admin");
    await hasText(state(page), "Open");
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem("tacos.session"));
      sessionStorage.setItem("tacos.session", JSON.stringify({ ...s, token: `${s.token.slice(0, -4)}AAAA` }));
    });
    await page.reload();
    const ended = page.locator('[data-error-code="INVALID_TOKEN"]');
    await ended.waitFor();
    assert.match(await ended.textContent(), /Please log in.*session has ended/);
    await page.getByRole("form", { name: "Log in as an administrator" }).waitFor();
    await shot(page, "33-operator-session-ended");

    // 429 and 503 (as a proxy or the server might answer), then the retry that goes through.
    await signIn(page);
    await hasText(state(page), "Open");
    const answers = [
      { status: 429, headers: { "Retry-After": "7" }, code: "RATE_LIMITED", expect: /Too many requests.*try again in 7 seconds/, shot: "34-operator-rate-limited" },
      { status: 503, headers: { "Retry-After": "2" }, code: "UNAVAILABLE", expect: /Service busy.*Try again in 2 seconds/, shot: "35-operator-unavailable" },
    ];
    for (const [i, a] of answers.entries()) {
      await page.unrouteAll();
      await page.route("**/api/v1/admin/events/*/pause", (r) =>
        r.fulfill({
          status: a.status,
          headers: { "Content-Type": "application/json", ...a.headers },
          body: JSON.stringify({ error: { code: a.code, message: "try later", trace_id: "4bf92f3577b34da6a3ce929d0e0e4736" } }),
        }));
      if (i === 0) await button(page, "Pause sale").click();
      else await page.getByTestId("sale").getByRole("button", { name: "Try again" }).click();
      const alert = page.getByTestId("sale").getByRole("alert").filter({ hasText: a.expect });
      await alert.waitFor();
      assert.match(await alert.textContent(), /Reference: 4bf92f3577b34da6a3ce929d0e0e4736/);
      await hasText(state(page), "Open");
      await shot(page, a.shot);
    }
    await page.unrouteAll();
    await page.getByTestId("sale").getByRole("button", { name: "Try again" }).click();
    await hasText(state(page), "Paused");
    assert.equal(await page.getByTestId("sale").getByRole("alert").count(), 0);
    assert.match(await newest(page, "pause"), /state: open → paused/);

    // 400: what the server refuses in the form is said, not swallowed.
    await page.route("**/api/v1/admin/events/*", (r) =>
      r.request().method() === "PATCH"
        ? r.fulfill({
          status: 400,
          contentType: "application/json",
          body: JSON.stringify({ error: { code: "INVALID_REQUEST", message: "hold_seconds: a whole number from 10 to 3600", trace_id: "4bf92f3577b34da6a3ce929d0e0e4737" } }),
        })
        : r.continue());
    await page.getByLabel("Hold time (seconds)").fill("90");
    await button(page, "Save settings").click();
    const invalid = page.getByTestId("sale").locator('[data-error-code="INVALID_REQUEST"]');
    await invalid.waitFor();
    assert.match(await invalid.textContent(), /Check your input.*hold_seconds: a whole number from 10 to 3600/);
    assert.equal(await page.getByTestId("sale-hold").textContent(), "60 s");
    await shot(page, "36-operator-invalid-request");
    await page.unrouteAll();
    assert.equal((await getEvent(BASE_URL, ev.event_id)).sale.hold_seconds, 60);
    u.check();
    await u.close();
  });

  test("on a phone 360 px wide the page fits the screen, whatever the events are called", { skip }, async () => {
    const admin = await adminToken(BASE_URL);
    // A long name: the event's field lists every event by name and id.
    const ev = await createEvent(BASE_URL, admin, { name: uniqueName("Late-night taco tasting with the whole neighbourhood"), capacity: 10 });
    const u = await newUser(browser, { phone: 360 });
    const { page } = u;
    await page.goto(`${BASE_URL}/operator?event=${ev.event_id}`);
    await signIn(page);
    await state(page).waitFor();
    const field = page.getByLabel("Event", { exact: true });
    assert.equal(await field.inputValue(), ev.event_id);
    assert.deepEqual(await sticksOut(page), [], "nothing wider than the screen");
    const box = await field.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 360, `the event's field is on the screen (${box.x}–${box.x + box.width} px)`);
    await shot(page, "37-operator-phone");
    u.check();
    await u.close();
  });
});
