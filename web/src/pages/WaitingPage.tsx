import { useEffect, useRef, useState } from "react";
import { Link, Navigate, useNavigate, useParams } from "react-router";
import { api } from "../api/client";
import type { QueueStatus } from "../api/types";
import { ConfirmButton } from "../components/ConfirmButton";
import { ErrorBanner } from "../components/ErrorBanner";
import { JoinCheck } from "../components/JoinCheck";
import { DrawResult, Lobby } from "../components/Lobby";
import { getFlow, updateFlow, clearFlow } from "../lib/flow";
import { useSession, useTitle } from "../lib/hooks";
import { followQueue, type Transport } from "../lib/live";
import { NO_LOBBY, nextLobby, type LobbyPhase } from "../lib/lobby";
import { newTraceId } from "../lib/trace";
import { useDraw, useEvent, useJoin } from "../lib/useEventData";
import { LIKELY_SOLD_OUT_TEXT, LIKELY_SOLD_OUT_TITLE, PAUSED_WAIT, nextAnnouncement, waitMessage, type Announcement } from "../lib/waiting";

/** The token's phase as the flow kept it (a reload in the lobby, or after the draw). */
function initialLobby(eventId: string): LobbyPhase {
  const flow = getFlow(eventId);
  if (flow.drawn_place !== undefined) return { kind: "drawn", place: flow.drawn_place };
  return flow.lobby ? { kind: "lobby", deadline: null } : NO_LOBBY;
}

/**
 * The waiting room: live position, the wait as a range (or that the tickets will likely run out
 * first, or that admission is paused) and progress; when the turn comes, entry is automatic for
 * a signed-in buyer, and anyone else is asked to log in or register first (the place is kept).
 * Screen readers are told the wait only when its words change, not on every status.
 *
 * Before the sale's opening it is the lobby: a countdown, why arriving early or late changes
 * nothing, and the draw's commitment; at the opening, the place the draw gave, then the line.
 */
export function WaitingPage() {
  const { eventId = "" } = useParams();
  const navigate = useNavigate();
  const session = useSession();
  const { event } = useEvent(eventId);
  const { join, busy: rejoining, error: rejoinError, progress: rejoinProgress } = useJoin(eventId, event?.sale?.join_challenge_bits);
  const token = getFlow(eventId).waiting_token;
  const [status, setStatus] = useState<QueueStatus | null>(null);
  const [transport, setTransport] = useState<Transport>("connecting");
  const [error, setError] = useState<unknown>(null);
  const [announcement, setAnnouncement] = useState<Announcement | null>(null);
  const [entering, setEntering] = useState(false);
  const firstPosition = useRef<number | null>(null);
  const [lobby, setLobby] = useState<LobbyPhase>(() => initialLobby(eventId));
  const draw = useDraw(eventId, lobby.kind === "lobby" ? "commitment" : lobby.kind === "drawn" ? "result" : null);
  useTitle(status?.ready_for_entry ? "Your turn" : status?.status === "lobby" ? "Lobby" : "Waiting room");

  // The phase is kept with the flow, so that a reload across the opening still shows the draw's result.
  useEffect(() => {
    if (lobby.kind === "lobby") updateFlow(eventId, { lobby: true });
    else if (lobby.kind === "drawn") updateFlow(eventId, { lobby: undefined, drawn_place: lobby.place });
  }, [eventId, lobby]);

  useEffect(() => {
    if (!token) return;
    // A new token (joined again) starts from what the flow kept for it: nothing.
    setLobby(initialLobby(eventId));
    return followQueue(token, eventId, {
      onData: (s) => {
        setStatus(s);
        setLobby((prev) => nextLobby(prev, s, Date.now()));
        setAnnouncement((prev) => nextAnnouncement(prev, s));
        setError(null);
        if (s.status === "waiting" && s.position > 0 && firstPosition.current === null) firstPosition.current = s.position;
      },
      onError: setError,
      onTransport: setTransport,
    });
  }, [token, eventId]);

  const enteringRef = useRef(false);
  const enter = async () => {
    if (!token || enteringRef.current) return;
    enteringRef.current = true;
    setEntering(true);
    setError(null);
    try {
      const r = await api.enter(token, newTraceId());
      updateFlow(eventId, {
        reservation_token: r.reservation_token,
        reservation_token_expires_at: Date.now() + r.ttl_sec * 1000,
      });
      navigate(`/events/${eventId}/reserve`, { replace: true });
    } catch (e) {
      setError(e);
      setEntering(false);
      enteringRef.current = false;
    }
  };

  // Entry is automatic once it is our turn and we know who is buying.
  const ready = status?.ready_for_entry === true;
  useEffect(() => {
    if (ready && session && !entering && !error) void enter();
    // (enter is recreated each render; the guard above keeps it to one call)
  }, [ready, session]);

  if (!token) return <Navigate to={`/events/${eventId}`} replace />;
  // Already entered with a reservation token still usable: go on choosing.
  const flow = getFlow(eventId);
  if (status?.entered && flow.reservation_token && (flow.reservation_token_expires_at ?? 0) > Date.now()) {
    return <Navigate to={`/events/${eventId}/reserve`} replace />;
  }

  const leave = async () => {
    try {
      await api.leave(token);
    } catch {
      /* leaving is best effort: the place is given up either way */
    }
    clearFlow(eventId);
    navigate(`/events/${eventId}`);
  };

  const first = firstPosition.current ?? status?.position ?? 1;
  const pos = status?.status === "waiting" ? status.position : 0;
  const progress = status ? (status.status === "waiting" ? Math.max(0, Math.min(100, Math.round(((first - pos + 1) / (first + 1)) * 100))) : 100) : 0;
  const wait = status ? waitMessage(status) : null;

  return (
    <section className="waiting">
      <h1>Waiting room{event ? `: ${event.name}` : ""}</h1>
      {!status && !error && <p aria-live="polite">Finding your place in line…</p>}
      <p className="sr-only" aria-live="polite" data-testid="wait-announcement">{announcement?.text ?? ""}</p>
      {status?.sold_out ? (
        <div className="banner banner-info" role="status">
          <p className="banner-title">Sold out</p>
          <p>Everything has been sold. Sorry! You can leave the waiting room.</p>
          <Link className="button" to="/">See other events</Link>
        </div>
      ) : status?.status === "closed" ? (
        <div className="banner banner-info" role="status" data-testid="sale-closed">
          <p className="banner-title">Sales for this event are closed</p>
          <p>The organiser has closed the sale: nobody more can get in, and nothing was bought for you. Sorry!</p>
          <Link className="button" to="/">See other events</Link>
        </div>
      ) : status?.status === "lobby" ? (
        <>
          <Lobby deadline={lobby.kind === "lobby" ? lobby.deadline : null} draw={draw} token={token} />
          {!session && <SaveTime eventId={eventId} />}
        </>
      ) : status?.status === "waiting" ? (
        <>
          {lobby.kind === "drawn" && <DrawResult place={lobby.place} draw={draw} token={token} />}
          <div role="status">
            {status.paused && (
              <p className="banner banner-info" data-testid="paused">
                Admission paused by the organiser — you keep your place.
              </p>
            )}
          </div>
          {/* Not a live region: it changes on every status. The announcement below says what matters. */}
          <div className="queue-figures">
            <p className="position">
              Your position: <strong data-testid="position">{status.position}</strong>
            </p>
            {wait?.kind === "likely_sold_out" ? (
              <div className="banner banner-info" data-testid="likely-sold-out">
                <p className="banner-title">{LIKELY_SOLD_OUT_TITLE}</p>
                <p>{LIKELY_SOLD_OUT_TEXT}</p>
                {wait.knownIn && <p className="small">Whether any come back should be clear in {wait.knownIn}.</p>}
              </div>
            ) : wait?.kind === "paused" ? (
              <p data-testid="eta">Estimated wait: {PAUSED_WAIT}</p>
            ) : wait?.kind === "range" ? (
              <>
                <p data-testid="eta">
                  Estimated wait: <span aria-hidden="true" data-testid="eta-range">{wait.text}</span>
                  <span className="sr-only">{wait.spoken}</span>
                </p>
                {wait.point && <p className="muted small" data-testid="eta-point">Best guess: {wait.point}</p>}
              </>
            ) : null}
          </div>
          <progress className="progress" max={100} value={progress} aria-label="Progress through the line">
            {progress}%
          </progress>
          <p className="muted">Keep this page open; you will be let in automatically. Waited {status.waiting_time} s.</p>
          {!session && <SaveTime eventId={eventId} />}
        </>
      ) : status?.ready_for_entry || entering ? (
        <>
          {lobby.kind === "drawn" && <DrawResult place={lobby.place} draw={draw} token={token} />}
          <div className="banner banner-success" role="status" aria-live="assertive">
            <p className="banner-title">It is your turn!</p>
            {session ? (
              <p>{entering ? "Letting you in…" : "Entering…"}</p>
            ) : (
              <>
                <p>Log in or register now to choose your tickets. Your turn is kept for 30 seconds.</p>
                <Link className="button button-primary" to={`/login?next=${encodeURIComponent(`/events/${eventId}/waiting`)}`}>
                  Log in or register to continue
                </Link>
              </>
            )}
          </div>
        </>
      ) : status?.status === "expired" || (status?.entered && !ready) ? (
        <div className="banner banner-error" role="alert" data-error-code="TOKEN_EXPIRED">
          <p className="banner-title">Your turn has passed</p>
          <p data-testid="turn-passed">
            {flow.reservation_id
              ? "You already used this turn."
              : status?.entered
                ? "This turn was used in another tab or window: continue there if it is still open."
                : "You did not enter in time."}{" "}
            Join the waiting room again to get a new place.
          </p>
          <div className="actions">
            <button type="button" className="button" onClick={join} disabled={rejoining}>Join the waiting room again</button>
            {flow.reservation_id && <Link className="button" to={`/reservations/${flow.reservation_id}`}>See your reservation</Link>}
          </div>
        </div>
      ) : null}
      <ErrorBanner error={error} onRetry={() => { setError(null); if (ready) void enter(); }} onRejoin={join} />
      <JoinCheck progress={rejoinProgress} />
      <ErrorBanner error={rejoinError} onRetry={join} />
      <p className="muted small" data-testid="transport">Updates: {transport === "sse" ? "live (server-sent events)" : transport === "websocket" ? "live (WebSocket)" : transport === "polling" ? "every 2 seconds" : "connecting"}</p>
      {(status?.status === "waiting" || status?.status === "lobby") && (
        <ConfirmButton
          className="link-button"
          label="Leave the waiting room"
          question="Give up your place?"
          confirm="Yes, leave the waiting room"
          keep="Stay in line"
          onConfirm={() => void leave()}
        >
          <p>
            {status.status === "lobby"
              ? "You leave the lobby and take no part in the draw unless you join again before the opening."
              : `You give up your place in line (number ${status.position}): joining again puts you at the back.`}
          </p>
        </ConfirmButton>
      )}
    </section>
  );
}

/** While waiting without an account: logging in now saves time at the turn, and keeps the place. */
function SaveTime({ eventId }: { eventId: string }) {
  return (
    <p>
      Save time: <Link to={`/login?next=${encodeURIComponent(`/events/${eventId}/waiting`)}`}>log in or register now</Link>{" "}
      while you wait. You keep your place.
    </p>
  );
}
