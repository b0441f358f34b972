import { lazy, Suspense, useEffect, useRef } from "react";
import { Link, NavLink, Outlet, Route, Routes, useLocation, useNavigate } from "react-router";
import { setSession } from "./api/session";
import { clearAllFlows } from "./lib/flow";
import { useSession } from "./lib/hooks";
import { EventsPage } from "./pages/EventsPage";
import { EventPage } from "./pages/EventPage";
import { WaitingPage } from "./pages/WaitingPage";
import { LoginPage } from "./pages/LoginPage";
import { ReservePage } from "./pages/ReservePage";
import { CheckoutPage } from "./pages/CheckoutPage";
import { ConfirmationPage } from "./pages/ConfirmationPage";
import { NotFoundPage } from "./pages/NotFoundPage";

// Loaded when first opened: its charts (uPlot) are a sixth of the app, which buyers never need.
const OperatorPage = lazy(() => import("./pages/OperatorPage").then((m) => ({ default: m.OperatorPage })));

function Layout() {
  const session = useSession();
  const navigate = useNavigate();
  // On navigation, focus moves to the new page's content (screen readers start reading there).
  const { pathname } = useLocation();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus({ preventScroll: false });
  }, [pathname]);
  return (
    <>
      <a className="skip-link" href="#main">Skip to content</a>
      <header className="site-header">
        <Link to="/" className="brand">
          <img src="/favicon.svg" alt="" width={28} height={28} /> Traffic Tacos
        </Link>
        <nav aria-label="Main">
          <NavLink to="/" end>Events</NavLink>
          <NavLink to="/operator">Operator</NavLink>
          {session ? (
            <span className="whoami">
              <span aria-label="Signed in as">{session.username}</span>{" "}
              <button type="button" className="link-button" onClick={() => { clearAllFlows(); setSession(null); navigate("/"); }}>
                Log out
              </button>
            </span>
          ) : (
            <NavLink to="/login">Log in</NavLink>
          )}
        </nav>
      </header>
      <main id="main" tabIndex={-1} ref={main}>
        <Outlet />
      </main>
    </>
  );
}

export function App() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<EventsPage />} />
        <Route path="events/:eventId" element={<EventPage />} />
        <Route path="events/:eventId/waiting" element={<WaitingPage />} />
        <Route path="events/:eventId/reserve" element={<ReservePage />} />
        <Route path="reservations/:reservationId" element={<CheckoutPage />} />
        <Route path="reservations/:reservationId/confirmation" element={<ConfirmationPage />} />
        <Route path="login" element={<LoginPage />} />
        <Route path="operator" element={<Suspense fallback={<p aria-live="polite">Loading…</p>}><OperatorPage /></Suspense>} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
