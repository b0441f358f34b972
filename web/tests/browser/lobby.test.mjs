// Browser tests of the lobby before a sale's opening and the draw at it (issue 16, item 6): the
// countdown and the draw's commitment, the place the draw gives at the opening, then the line and
// the turn; and the operator page's opening time. Run by scripts/browser.sh, on events made here
// (the demo events are never touched).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  ADMIN_PASSWORD, BASE_URL, T,
  adminToken, audit, createEvent, getDraw, getEvent, joinAnonymously, launch, newUser, register, shot, uniqueName,
} from "./support.mjs";

const skip = !ADMIN_PASSWORD && "TACOS_ADMIN_PASSWORD not set";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const text = async (locator) => (await locator.textContent()).trim();
const sha256 = (data) => createHash("sha256").update(data).digest("hex");
/** An RFC 3339 time to the second, as the server writes it (`2026-12-04T21:00:00Z`). */
const utc = (ms) => `${new Date(ms).toISOString().slice(0, 19)}Z`;
/** The operator page's way of writing a time: `2026-12-04 21:00:00 UTC`. */
const shownUtc = (iso) => `${iso.slice(0, 19).replace("T", " ")} UTC`;
/**
 * A `datetime-local` value for `ms` in Seoul (UTC+9, no summer time), as the input gives it back:
 * `2026-12-05T06:00:07`, and `2026-12-05T06:00` on a whole minute (HTML's normalized form drops
 * ":00" seconds; an opening drawn on one, one run in sixty, failed the comparison).
 */
const seoulInput = (ms) => {
  const local = new Date(ms + 9 * 3600_000).toISOString().slice(0, 19);
  return local.endsWith(":00") ? local.slice(0, 16) : local;
};

/** The page's own waiting token (kept in sessionStorage with the flow). */
async function tokenOf(page, eventId) {
  const token = await page.evaluate((id) => JSON.parse(sessionStorage.getItem(`tacos.flow.${id}`) ?? "{}").waiting_token, eventId);
  assert.match(token ?? "", /^wtkn_/, "the page keeps its waiting token");
  return token;
}

async function statusOf(token) {
  const res = await fetch(`${BASE_URL}/api/v1/queue/status?token=${encodeURIComponent(token)}`);
  assert.equal(res.status, 200);
  return res.json();
}

/** Every entry of the draw, page after page. */
async function drawEntries(eventId) {
  const entries = [];
  let after;
  for (let i = 0; i < 100; i++) {
    const page = await getDraw(BASE_URL, eventId, { after, limit: 2 });
    entries.push(...page.entries);
    if (!page.next) return entries;
    after = page.next;
  }
  throw new Error("the draw's entries never ended");
}

/**
 * Counts, in the page, how often the countdown and the screen readers' announcement change while
 * the lobby is shown.
 */
async function watchLobby(page) {
  await page.evaluate(() => {
    const seen = { countdown: [], announcements: [] };
    const countdown = () => document.querySelector('[data-testid="lobby-countdown"]')?.textContent ?? null;
    const said = () => document.querySelector('[data-testid="wait-announcement"]')?.textContent ?? null;
    const note = () => {
      const c = countdown();
      const a = said();
      if (c === null) return;
      if (/^The sale opens in \d+:\d\d$/.test(c) && seen.countdown.at(-1) !== c) seen.countdown.push(c);
      if (a && seen.announcements.at(-1) !== a) seen.announcements.push(a);
    };
    note();
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
    window.__lobbySeen = seen;
  });
  return () => page.evaluate(() => window.__lobbySeen);
}

describe("the lobby and the draw", () => {
  test("before the opening the lobby counts down and shows the commitment; at it the draw gives a place, then the line and the turn", { skip }, async () => {
    const admin = await adminToken(BASE_URL);
    const opensAt = utc(Date.now() + 8_000);
    const ev = await createEvent(BASE_URL, admin, {
      name: uniqueName("Lobby"), capacity: 50, admission_rate_per_sec: 0.5, on_sale_at: opensAt,
    });
    assert.equal(ev.on_sale_at, opensAt, `the event has its opening: ${JSON.stringify(ev)}`);
    assert.equal(ev.sale?.on_sale_at, opensAt, "and its sale too");
    const u = await newUser(browser);
    const { page } = u;

    // The event list and the event's page say when it opens; joining still works (the lobby).
    await page.goto(`${BASE_URL}/`);
    const card = page.locator("li.card").filter({ hasText: ev.name });
    assert.match(await text(card.getByTestId("opens-at")), /^Opens at [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d [AP]M \S+$/);
    assert.equal(await card.locator("time").getAttribute("datetime"), opensAt);
    await page.goto(`${BASE_URL}/events/${ev.event_id}`);
    assert.match(await text(page.getByTestId("opens-at")), /^Opens at /);
    await page.getByTestId("lobby-note").waitFor();
    await page.getByRole("button", { name: "Join the waiting room" }).click();
    await page.waitForURL(/\/waiting$/);
    // Others arrive in the lobby too.
    for (let i = 0; i < 4; i++) {
      const answer = await joinAnonymously(BASE_URL, ev.event_id);
      assert.equal(answer.status, "lobby", `a join before the opening is in the lobby: ${JSON.stringify(answer)}`);
      assert.ok(answer.opens_in_sec > 0);
    }

    // The lobby: a countdown, why nothing is gained by hurrying, the commitment; no place, wait or progress.
    const countdown = page.getByTestId("lobby-countdown");
    await countdown.filter({ hasText: /^The sale opens in 0:0\d$/ }).waitFor();
    const seen = await watchLobby(page);
    const token = await tokenOf(page, ev.event_id);
    const status = await statusOf(token);
    assert.equal(status.status, "lobby", JSON.stringify(status));
    assert.ok(status.opens_in_sec > 0 && status.opens_in_sec <= 9, `opens in ${status.opens_in_sec} s`);
    assert.equal(status.position, 0);
    assert.equal(
      await text(page.getByTestId("lobby-explained")),
      "Everyone who is here before the opening gets a random place in line when it opens — refreshing or arriving at the last second gains nothing; keep this page open.",
    );
    for (const id of ["position", "eta", "eta-range", "draw-done"]) assert.equal(await page.getByTestId(id).count(), 0, `no ${id} in the lobby`);
    assert.equal(await page.getByRole("progressbar").count(), 0, "no progress bar in the lobby");
    assert.ok(await page.getByRole("button", { name: "Leave the waiting room" }).isVisible(), "leaving is offered");

    const scheduled = await getDraw(BASE_URL, ev.event_id);
    assert.equal(scheduled.status, "scheduled");
    assert.equal(scheduled.algorithm, "feistel-sha256-v1");
    assert.match(scheduled.seed_sha256 ?? "", /^[0-9a-f]{64}$/, "the commitment is published before the opening");
    assert.equal(scheduled.seed, undefined, "the seed is not");
    const short = page.getByTestId("commitment-short");
    await short.filter({ hasText: scheduled.seed_sha256.slice(0, 16) }).waitFor();
    assert.equal(await text(short), scheduled.seed_sha256.slice(0, 16));
    // The disclosure: the full commitment, and the hash by which this person finds their entry.
    const full = page.getByTestId("commitment-full");
    assert.equal(await full.isVisible(), false, "the details start closed");
    await page.getByText("How the draw works", { exact: true }).click();
    await full.waitFor();
    assert.equal(await text(full), scheduled.seed_sha256);
    assert.equal(await text(page.getByTestId("my-token-sha256")), sha256(token));

    // Screen readers: told once that this is the lobby, never each second (the timer is not a live region).
    const said = page.getByTestId("wait-announcement");
    assert.equal(
      await text(said),
      "You are in the lobby: the sale has not opened yet. Everyone here before the opening gets a random place in line when it opens.",
    );
    assert.equal(await page.locator('[data-testid="lobby"] [aria-live], [data-testid="lobby"][aria-live]').count(), 0);
    const timer = page.getByRole("timer");
    assert.match(await timer.getAttribute("aria-label"), /^The sale opens in \d+ seconds?$/);
    await shot(page, "42-lobby-countdown");
    // Ticking every second, while screen readers were told once.
    await page.waitForFunction(() => window.__lobbySeen.countdown.length >= 3, null, { timeout: T });
    const { countdown: ticks, announcements } = await seen();
    const seconds = ticks.map((t) => Number(/(\d+)$/.exec(t)?.[1]));
    for (let i = 1; i < seconds.length; i++) assert.ok(seconds[i] < seconds[i - 1], `the countdown goes down: ${ticks.join(" | ")}`);
    assert.equal(announcements.length, 1, `announced once in the lobby: ${announcements.join(" | ")}`);

    // The opening: the draw's result, with the seed revealed, then the line as usual.
    const place = page.getByTestId("drawn-place");
    await place.waitFor({ timeout: 30_000 });
    const result = await text(place);
    const m = /^The draw is done: (?:your place in line is (\d+)|it is your turn)\.$/.exec(result);
    assert.ok(m, `the draw's result: ${result}`);
    if (m[1]) {
      const n = Number(m[1]);
      assert.ok(n >= 1 && n <= 5, `a place among the 5 of the lobby: ${n}`);
    }
    assert.equal(await page.getByTestId("lobby").count(), 0, "the lobby is over");
    const drawn = await getDraw(BASE_URL, ev.event_id);
    assert.equal(drawn.status, "drawn", JSON.stringify(drawn));
    assert.equal(drawn.lobby_size, 5);
    assert.equal(drawn.seed_sha256, scheduled.seed_sha256, "the commitment did not change");
    assert.equal(sha256(Buffer.from(drawn.seed, "hex")), scheduled.seed_sha256, "the seed revealed is the one committed to");
    const entries = await drawEntries(ev.event_id);
    assert.equal(entries.length, 5);
    assert.ok(entries.some((e) => e.token_sha256 === sha256(token)), "this person's entry is in the published list");
    const revealed = page.getByTestId("draw-revealed");
    await revealed.waitFor();
    assert.equal(await text(revealed), `Seed revealed: ${drawn.seed.slice(0, 16)} · 5 people in the lobby`);
    await page.getByText("Check the draw", { exact: true }).click();
    assert.equal(await text(page.getByTestId("draw-seed")), drawn.seed);
    if (m[1]) {
      // Screen readers hear the result with the wait (unless the turn came first: it says so itself).
      const first = await text(said);
      assert.ok(
        first === "" || /^(The draw is done: your place in line is \d+\.|You are number \d+ in line\.) /.test(first),
        `announced: ${first}`,
      );
    }
    await shot(page, "43-lobby-drawn");

    // Then the normal flow: the turn comes, the buyer registers and is let in to choose.
    const prompt = page.getByRole("link", { name: "Log in or register to continue" });
    await prompt.waitFor({ timeout: 60_000 });
    await audit(page, "the turn after the draw");
    await prompt.click();
    await page.waitForURL(/\/login\?next=/);
    await register(page);
    await page.waitForURL(/\/reserve$/, { timeout: 60_000 });
    u.check();
    await u.close();
  });
});

describe("operator page: opening time", () => {
  /** Logs in with the operator page's own form, as the administrator. */
  async function signIn(page) {
    const form = page.getByRole("form", { name: "Log in as an administrator" });
    await form.waitFor();
    await form.getByLabel("Password").fill(ADMIN_PASSWORD);
    await form.getByRole("button", { name: "Log in" }).click();
  }

  test("an operator moves an opening time (in their own time zone, sent in UTC); once the sale has opened the server's refusal is said", { skip }, async () => {
    const admin = await adminToken(BASE_URL);
    const second = (ms) => Math.floor(ms / 1000) * 1000;
    const first = second(Date.now() + 10 * 60_000);
    const ev = await createEvent(BASE_URL, admin, { name: uniqueName("Opening"), capacity: 10, on_sale_at: utc(first) });
    // An operator in Seoul: the form is in Seoul's time, the server gets UTC.
    const op = await newUser(browser, { timezoneId: "Asia/Seoul" });
    const { page } = op;
    await page.goto(`${BASE_URL}/operator?event=${ev.event_id}`);
    await signIn(page);
    const shown = page.getByTestId("sale-opening");
    await shown.filter({ hasText: shownUtc(utc(first)) }).waitFor();
    const input = page.getByLabel("Opens at (your local time)");
    assert.equal(await input.inputValue(), seoulInput(first), "the form shows it in the operator's time");

    // Nothing typed: said by the form, nothing sent.
    await input.fill("");
    await page.getByRole("button", { name: "Set opening time", exact: true }).click();
    await page.getByTestId("opening-problem").filter({ hasText: "Enter the date and time the sale opens." }).waitFor();
    assert.equal(await input.getAttribute("aria-invalid"), "true");

    // Moved ten minutes later.
    const moved = first + 10 * 60_000;
    await input.fill(seoulInput(moved));
    await page.getByRole("button", { name: "Set opening time", exact: true }).click();
    await shown.filter({ hasText: shownUtc(utc(moved)) }).waitFor();
    assert.equal(await text(page.getByTestId("sale-done")), `Opening time set: ${shownUtc(utc(moved))}.`);
    assert.equal(await page.getByTestId("opening-problem").count(), 0);
    const after = await getEvent(BASE_URL, ev.event_id);
    assert.equal(after.sale.on_sale_at, utc(moved), "the server has the new opening, in UTC");
    assert.equal(after.on_sale_at, utc(moved), "and the event shows it");
    await page.locator('[data-testid="audit-log"] tbody tr:first-child[data-action="update"]').waitFor();
    assert.match(
      await page.locator('[data-testid="audit-log"] tbody tr').first().textContent(),
      new RegExp(`opening: ${shownUtc(utc(first))} → ${shownUtc(utc(moved))}`),
    );
    await shot(page, "44-operator-opening-moved");

    // A sale whose opening has passed keeps it: the server's 409 is said in its words.
    const soon = second(Date.now() + 2_000);
    const opened = await createEvent(BASE_URL, admin, { name: uniqueName("Opened"), capacity: 10, on_sale_at: utc(soon) });
    await page.goto(`${BASE_URL}/operator?event=${opened.event_id}`);
    await shown.filter({ hasText: shownUtc(utc(soon)) }).waitFor();
    while (Date.now() < soon + 1_000) await new Promise((r) => setTimeout(r, 200));
    await input.fill(seoulInput(second(Date.now() + 60 * 60_000)));
    await page.getByRole("button", { name: "Set opening time", exact: true }).click();
    const refused = page.getByTestId("opening-refused");
    await refused.waitFor();
    assert.equal(await refused.getAttribute("data-error-code"), "INVALID_STATE");
    assert.match(await text(refused), /^The opening time was not changed/);
    const refusal = await fetch(`${BASE_URL}/api/v1/admin/events/${opened.event_id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${admin}` },
      body: JSON.stringify({ on_sale_at: utc(Date.now() + 60 * 60_000) }),
    });
    assert.equal(refusal.status, 409);
    const { error } = await refusal.json();
    assert.equal(error.code, "INVALID_STATE");
    assert.ok((await text(refused)).includes(error.message), `the server's words: ${error.message}`);
    await shown.filter({ hasText: shownUtc(utc(soon)) }).waitFor();
    assert.equal((await getEvent(BASE_URL, opened.event_id)).sale.on_sale_at, utc(soon), "nothing changed");
    await shot(page, "45-operator-opening-refused");

    // A time the server cannot read (answered by the test: the form always sends one it can): 400, in its words.
    await page.route("**/api/v1/admin/events/*", (r) =>
      r.request().method() === "PATCH"
        ? r.fulfill({
          status: 400,
          contentType: "application/json",
          body: JSON.stringify({ error: { code: "INVALID_REQUEST", message: "on_sale_at: not an RFC 3339 time", trace_id: "4bf92f3577b34da6a3ce929d0e0e4738" } }),
        })
        : r.continue());
    await page.goto(`${BASE_URL}/operator?event=${ev.event_id}`);
    await shown.filter({ hasText: shownUtc(utc(moved)) }).waitFor();
    await input.fill(seoulInput(moved + 60_000));
    await page.getByRole("button", { name: "Set opening time", exact: true }).click();
    const invalid = page.locator('[data-testid="opening-refused"][data-error-code="INVALID_REQUEST"]');
    await invalid.waitFor();
    assert.match(await text(invalid), /on_sale_at: not an RFC 3339 time.*Reference: 4bf92f3577b34da6a3ce929d0e0e4738/);
    await page.unrouteAll();
    assert.equal((await getEvent(BASE_URL, ev.event_id)).sale.on_sale_at, utc(moved));
    op.check();
    await op.close();
  });
});
