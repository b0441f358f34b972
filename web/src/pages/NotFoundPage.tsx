import { Link } from "react-router";
import { useTitle } from "../lib/hooks";

export function NotFoundPage() {
  useTitle("Page not found");
  return (
    <section>
      <h1>Page not found</h1>
      <p><Link to="/">See all events</Link></p>
    </section>
  );
}
