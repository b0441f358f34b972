import { Link, useLocation } from "react-router";
import { explain } from "../api/errors";
import { ApiError } from "../api/errors";

interface Props {
  error: unknown;
  onRetry?: () => void;
  onRejoin?: () => void;
}

/** A failure, said plainly, with what to do next. Announced to screen readers (role=alert). */
export function ErrorBanner({ error, onRetry, onRejoin }: Props) {
  const loc = useLocation();
  if (!error) return null;
  const e = explain(error);
  const code = error instanceof ApiError ? error.code : "ERROR";
  return (
    <div className="banner banner-error" role="alert" data-error-code={code}>
      <p className="banner-title">{e.title}</p>
      <p>{e.detail}</p>
      <div className="actions">
        {e.action === "login" && (
          <Link className="button" to={`/login?next=${encodeURIComponent(loc.pathname)}`}>
            Log in or register
          </Link>
        )}
        {e.action === "retry" && onRetry && (
          <button type="button" className="button" onClick={onRetry}>
            Try again
          </button>
        )}
        {e.action === "rejoin" && onRejoin && (
          <button type="button" className="button" onClick={onRejoin}>
            Join the waiting room again
          </button>
        )}
      </div>
      {error instanceof ApiError && error.traceId && <p className="muted small">Reference: {error.traceId}</p>}
    </div>
  );
}
