import { MAX_SOLVES, solveProbability, type JoinProgress } from "../lib/join";

const count = new Intl.NumberFormat("en-US");

/**
 * The proof of work a join does when the event asks for it (`useJoin`'s `progress`): "Checking
 * your browser…", said once to screen readers (polite), with a progress bar and the hashes tried.
 * The search runs in a worker: the page stays usable meanwhile. Nothing while no work is done.
 */
export function JoinCheck({ progress }: { progress: JoinProgress | null }) {
  const checking = progress?.phase === "challenge" || progress?.phase === "solving";
  const solving = progress?.phase === "solving" ? progress : null;
  // How likely the search is done by now: it takes about 2^bits tries, more or fewer by luck.
  const percent = solving ? Math.min(99, Math.round(solveProbability(solving.hashes, solving.bits) * 100)) : undefined;
  const attempt = progress && progress.phase !== "joining" ? progress.attempt : 1;
  return (
    <div
      className="join-check"
      data-testid="join-check"
      data-phase={progress?.phase ?? "idle"}
      data-bits={solving?.bits}
      data-hashes={solving?.hashes}
    >
      <div role="status" aria-live="polite">
        {checking && <p className="join-check-title">Checking your browser…</p>}
        {progress?.phase === "joining" && progress.worked && <p>Browser checked. Joining the line…</p>}
      </div>
      {checking && (
        <>
          <progress className="progress" max={100} value={percent} aria-label="Browser check">
            {percent !== undefined ? `${percent}%` : ""}
          </progress>
          <p className="muted small">
            A quick check that keeps bots out of the line: your browser solves a small puzzle, usually in a second or two.
            {solving && solving.hashes > 0 && ` ${count.format(solving.hashes)} tries so far.`}
            {attempt > 1 && ` The server asked for a fresh check (try ${attempt} of ${MAX_SOLVES}).`}
          </p>
        </>
      )}
    </div>
  );
}
