import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import { onSession, sessionSnapshot } from "../api/session";
import type { AuthSession } from "../api/types";

/** The signed-in user, re-rendering on login and logout (the same object until then). */
export function useSession(): AuthSession | null {
  const raw = useSyncExternalStore(onSession, sessionSnapshot, () => null);
  return useMemo(() => {
    try {
      return raw ? (JSON.parse(raw) as AuthSession) : null;
    } catch {
      return null;
    }
  }, [raw]);
}

/** Current time (ms), ticking every `ms`. */
export function useNow(ms = 250): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Sets the document title for a page (screen readers announce it on navigation). */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Traffic Tacos`;
  }, [title]);
}
