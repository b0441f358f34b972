import { formatCountdown, secondsLeft, spokenDuration } from "../lib/format";
import { useNow } from "../lib/hooks";

interface Props {
  /** Deadline, ms since the epoch. */
  deadline: number;
  label: string;
}

/**
 * A visible m:ss countdown (role=timer, not announced every second) plus a polite announcement
 * at 30 s, 10 s and zero for screen readers.
 */
export function Countdown({ deadline, label }: Props) {
  const now = useNow(250);
  const left = secondsLeft(deadline, now);
  const announce = left === 0 ? "Time is up." : left <= 10 ? `${spokenDuration(10)} left` : left <= 30 ? `${spokenDuration(30)} left` : "";
  return (
    <div className={`countdown${left <= 10 ? " countdown-urgent" : ""}`}>
      <span className="countdown-label">{label}</span>{" "}
      <span role="timer" aria-label={`${label} ${spokenDuration(left)}`} data-seconds-left={left} className="countdown-value">
        {formatCountdown(left)}
      </span>
      <span className="sr-only" aria-live="polite">
        {announce}
      </span>
    </div>
  );
}
