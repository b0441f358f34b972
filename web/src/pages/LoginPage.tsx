import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { api } from "../api/client";
import { setSession } from "../api/session";
import { ErrorBanner } from "../components/ErrorBanner";
import { useSession, useTitle } from "../lib/hooks";
import { newTraceId } from "../lib/trace";

/** Only paths of this app are followed after login (no open redirect). */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

/**
 * Logging in or registering. `title` and `initialUsername` for a page that needs a particular
 * account (the operator page: an administrator's).
 */
export function AuthForm({
  mode,
  onDone,
  title,
  initialUsername = "",
}: {
  mode: "login" | "register";
  onDone: () => void;
  title?: string;
  initialUsername?: string;
}) {
  const [username, setUsername] = useState(initialUsername);
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const id = (f: string) => `${mode}-${f}`;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = mode === "login" ? await api.login(username, password, newTraceId()) : await api.register(username, password, newTraceId());
      setSession(s);
      setBusy(false);
      onDone();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form className="card auth-form" onSubmit={submit} aria-labelledby={id("title")}>
      <h2 id={id("title")}>{title ?? (mode === "login" ? "Log in" : "Register")}</h2>
      <label htmlFor={id("username")}>Username</label>
      <input id={id("username")} name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
      <label htmlFor={id("password")}>Password</label>
      <input
        id={id("password")}
        name="password"
        type="password"
        autoComplete={mode === "login" ? "current-password" : "new-password"}
        required
        minLength={mode === "register" ? 8 : undefined}
        aria-describedby={mode === "register" ? id("hint") : undefined}
        value={password}
        onChange={(e) => setPassword(e.target.value)}
      />
      {mode === "register" && <p id={id("hint")} className="muted small">At least 8 characters; a few words work well.</p>}
      <button type="submit" className="button button-primary" disabled={busy}>
        {busy ? "Please wait…" : mode === "login" ? "Log in" : "Create account"}
      </button>
      <ErrorBanner error={error} />
    </form>
  );
}

export function LoginPage() {
  useTitle("Log in or register");
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const session = useSession();
  const next = safeNext(params.get("next"));
  const done = () => navigate(next, { replace: true });
  return (
    <section>
      <h1>Log in or register</h1>
      {next !== "/" && <p>You need an account to choose and buy tickets. You will continue where you left off.</p>}
      {session && (
        <p className="banner banner-info" role="status">
          You are logged in as {session.username}. <Link to={next}>Continue</Link>
        </p>
      )}
      <div className="auth-grid">
        <AuthForm mode="login" onDone={done} />
        <AuthForm mode="register" onDone={done} />
      </div>
    </section>
  );
}
