/** The signed-in user (JWT) kept in sessionStorage: gone when the tab closes. */

import type { AuthSession } from "./types";

const KEY = "tacos.session";
type Listener = (s: AuthSession | null) => void;
const listeners = new Set<Listener>();

export function getSession(): AuthSession | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as AuthSession) : null;
  } catch {
    return null;
  }
}

export function setSession(s: AuthSession | null): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l(s));
}

/** Subscribes to login and logout; returns the unsubscribe function. */
export function onSession(l: Listener): () => void {
  listeners.add(l);
  return () => {
    listeners.delete(l);
  };
}

/** The stored session as text: a stable snapshot for `useSyncExternalStore`. */
export function sessionSnapshot(): string | null {
  return sessionStorage.getItem(KEY);
}
