import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";
import { App } from "./App";
import { loadConfig } from "./api/config";
import { prefetch } from "./lib/prefetch";
import "./styles.css";

// Asked for before the first render, so that the page's first API calls need not wait for it,
// and the page's data itself when it is known from the address (an event and its seat map).
void loadConfig();
prefetch(location.pathname);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter>
      <App />
    </BrowserRouter>
  </StrictMode>,
);
