/**
 * Idempotency keys per user action: a retry of the same action (same name, same body) reuses its
 * key, so the server replays the first answer instead of acting twice; once an action succeeded,
 * the next one gets a fresh key.
 */

const pending = new Map<string, string>();

function slot(action: string, body: unknown): string {
  return `${action} ${JSON.stringify(body ?? null)}`;
}

/** The key for this attempt of `action` with `body`: the previous one if it has not succeeded. */
export function keyFor(action: string, body: unknown): string {
  const s = slot(action, body);
  let key = pending.get(s);
  if (!key) {
    key = crypto.randomUUID();
    pending.set(s, key);
  }
  return key;
}

/** The action succeeded (or ended for good): forget its key. */
export function settle(action: string, body: unknown): void {
  pending.delete(slot(action, body));
}
