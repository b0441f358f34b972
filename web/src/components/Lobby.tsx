import { useMemo } from "react";
import type { DrawInfo } from "../api/types";
import { formatLocalTime, secondsLeft } from "../lib/format";
import { useNow } from "../lib/hooks";
import { LOBBY_TEXT, drawnText, formatOpensIn, shortHex, spokenOpensIn, tokenSha256 } from "../lib/lobby";

/**
 * The lobby before the opening: the countdown (ticking every second here, from the deadline the
 * statuses set: a `role="timer"`, which screen readers do not read out on each tick), why
 * waiting here is fair, and the draw's published commitment.
 */
export function Lobby({ deadline, draw, token }: { deadline: number | null; draw: DrawInfo | null; token: string }) {
  const now = useNow(250);
  const left = deadline === null ? null : secondsLeft(deadline, now);
  return (
    <div className="lobby" data-testid="lobby">
      <p className="lobby-countdown" data-testid="lobby-countdown">
        {left === null ? (
          "The sale opens soon."
        ) : left > 0 ? (
          <>
            The sale opens in{" "}
            <span role="timer" className="countdown-value" aria-label={`The sale opens in ${spokenOpensIn(left)}`} data-seconds-left={left}>
              {formatOpensIn(left)}
            </span>
          </>
        ) : (
          "The sale is opening: the draw is under way…"
        )}
      </p>
      {draw?.on_sale_at && <p className="muted">Opens at {formatLocalTime(draw.on_sale_at)}.</p>}
      <p data-testid="lobby-explained">{LOBBY_TEXT}</p>
      <DrawCommitment draw={draw} token={token} />
    </div>
  );
}

/** The commitment at a glance, and the disclosure that explains the draw with the full commitment. */
function DrawCommitment({ draw, token }: { draw: DrawInfo | null; token: string }) {
  const mine = useMemo(() => tokenSha256(token), [token]);
  const commitment = draw?.seed_sha256;
  return (
    <div className="draw" data-testid="draw-commitment">
      <p>
        Draw commitment:{" "}
        {commitment ? (
          <code data-testid="commitment-short">{shortHex(commitment)}</code>
        ) : (
          <span className="muted">{draw ? "not published yet" : "loading…"}</span>
        )}
      </p>
      <details className="draw-details">
        <summary>How the draw works</summary>
        <p>
          Before the opening the server publishes this commitment: the SHA-256 of a secret seed, fixed before anyone joined and
          kept secret until the opening. At the opening it reveals the seed, and the order of everyone in the lobby follows from the
          seed and the published list of lobby entries (algorithm <code>{draw?.algorithm ?? "feistel-sha256-v1"}</code>). Nobody, the
          organiser included, can choose or change the order once people are here, and anyone can recompute it from the published
          list.
        </p>
        <p>
          Full commitment: <code data-testid="commitment-full">{commitment ?? "not published yet"}</code>
        </p>
        <p>
          Your entry in the list will be the SHA-256 of your waiting token: <code data-testid="my-token-sha256">{mine}</code>
        </p>
      </details>
    </div>
  );
}

/**
 * The draw's result: the place in line this token got at the opening, and (once the server shows
 * the draw as done) the revealed seed and the size of the lobby, which anyone can check.
 */
export function DrawResult({ place, draw, token }: { place: number | null; draw: DrawInfo | null; token: string }) {
  const mine = useMemo(() => tokenSha256(token), [token]);
  const drawn = draw?.status === "drawn" ? draw : null;
  return (
    <div className="banner banner-success" data-testid="draw-done">
      <p className="banner-title" data-testid="drawn-place">{drawnText(place)}</p>
      {drawn?.seed && (
        <>
          <p data-testid="draw-revealed">
            Seed revealed: <code>{shortHex(drawn.seed)}</code>
            {drawn.lobby_size !== undefined && <> · {drawn.lobby_size} {drawn.lobby_size === 1 ? "person" : "people"} in the lobby</>}
          </p>
          <details className="draw-details">
            <summary>Check the draw</summary>
            <p>
              Anyone can recompute the order: the SHA-256 of the seed (its 32 bytes) is the commitment published before the opening,
              and the seed with the list of waiting tokens' SHA-256 (<code>GET /api/v1/queue/draw</code>) gives every place
              (algorithm <code>{drawn.algorithm}</code>).
            </p>
            <p>
              Seed: <code data-testid="draw-seed">{drawn.seed}</code>
            </p>
            {drawn.seed_sha256 && (
              <p>
                Commitment: <code>{drawn.seed_sha256}</code>
              </p>
            )}
            <p>
              Your entry is the one whose token SHA-256 is <code>{mine}</code>.
            </p>
          </details>
        </>
      )}
    </div>
  );
}
