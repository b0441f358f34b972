/**
 * The signed-in user (JWT) kept in sessionStorage: gone when the tab closes. And each account's
 * device token kept in localStorage (it outlives the tab, and signing out): this browser's proof
 * that it signed in to that account before, sent with its next login so that the login has a
 * budget of its own (docs/api.md, rate limits).
 */

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
  if (s?.device_token) rememberDevice(s.username, s.device_token);
  listeners.forEach((l) => l(s));
}

const deviceKey = (username: string) => `tacos.device.${username.toLowerCase()}`;

/** The device token this browser was given for `username` (any case), if any. */
export function deviceToken(username: string): string | null {
  try {
    return localStorage.getItem(deviceKey(username));
  } catch {
    return null;
  }
}

function rememberDevice(username: string, token: string): void {
  try {
    localStorage.setItem(deviceKey(username), token);
  } catch {
    // Storage full or refused (private mode): the login budget is the username's, as before.
  }
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
