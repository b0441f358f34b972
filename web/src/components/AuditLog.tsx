import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { AuditEntry } from "../api/types";
import { ErrorBanner } from "./ErrorBanner";
import { formatTimestamp } from "../lib/format";
import { actionLabel, describeChange } from "../lib/sale";

/** Entries per page of the log. */
export const AUDIT_PAGE = 50;

interface Props {
  eventId: string;
  eventName: string;
  /** Changes after each operator action: the log is read again from its newest entry. */
  version: number;
  /** The signed-in operator's user id, marked "(you)" in the log. */
  you?: string;
  /** Every failed read, also told to the page (a 401 ends the session and this component). */
  onError?: (e: unknown) => void;
}

/** The audit log of one event's sale, newest first: when, who, what, and what it changed. */
export function AuditLog({ eventId, eventName, version, you, onError }: Props) {
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [attempt, setAttempt] = useState(0);
  const [older, setOlder] = useState(false);
  /** Which read failed, for "Try again": the newest page, or the older one asked for. */
  const [failed, setFailed] = useState<"load" | "more">("load");

  useEffect(() => {
    const ctl = new AbortController();
    setError(null);
    api.audit({ event_id: eventId, limit: AUDIT_PAGE }, ctl.signal).then(
      (page) => {
        setEntries(page.entries);
        setNext(page.next);
      },
      (e) => {
        if (e instanceof DOMException && e.name === "AbortError") return;
        // Told even once this log is gone: a 401 ends the session, which takes the log away
        // before its answer is read.
        onError?.(e);
        if (ctl.signal.aborted) return;
        setError(e);
        setFailed("load");
      },
    );
    return () => ctl.abort();
    // (onError is the page's; a new one need not read the log again)
  }, [eventId, version, attempt]);

  const more = async () => {
    if (!next || older) return;
    setOlder(true);
    setError(null);
    try {
      const page = await api.audit({ event_id: eventId, limit: AUDIT_PAGE, before: next });
      setEntries((es) => [...(es ?? []), ...page.entries]);
      setNext(page.next);
    } catch (e) {
      setError(e);
      setFailed("more");
      onError?.(e);
    } finally {
      setOlder(false);
    }
  };

  return (
    <div className="audit" data-testid="audit-log" data-entries={entries?.length ?? 0}>
      <ErrorBanner error={error} onRetry={() => (failed === "more" ? void more() : setAttempt((a) => a + 1))} />
      {entries === null && !error && <p aria-live="polite">Loading the audit log…</p>}
      {entries?.length === 0 && <p>No operator has changed this sale yet.</p>}
      {entries && entries.length > 0 && (
        <table className="audit-table">
          <caption className="sr-only">Operator actions on the sale of {eventName}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Operator</th>
              <th scope="col">Action</th>
              <th scope="col">Before → after</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.audit_id} data-action={e.action}>
                <td><time dateTime={e.at}>{formatTimestamp(e.at)}</time></td>
                <td><code>{e.actor}</code>{e.actor === you ? " (you)" : ""}</td>
                <td>{actionLabel(e.action)}</td>
                <td>
                  {describeChange(e.before, e.after).map((part) => (
                    <span key={part} className="audit-change">{part}</span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && (
        <button type="button" className="button" onClick={() => void more()} aria-disabled={older}>
          {older ? "Loading older entries…" : "Show older entries"}
        </button>
      )}
    </div>
  );
}
