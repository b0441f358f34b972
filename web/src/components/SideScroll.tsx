import { useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { NO_EDGES, edgesOf, sameEdges, type Edges } from "../lib/scrollEdges";

interface Props {
  /** Said above the content while some of it is out of sight sideways. */
  hint: string;
  /** The scroller's name, for the keyboard's stop on it while it scrolls. */
  label: string;
  children: ReactNode;
}

/**
 * Content wider than the screen (a seat map's rows on a phone), scrolled sideways, with a hint
 * that it is: a shadowed edge on each side that has more to show, gone once scrolled to that
 * end, and a line of text above while anything is out of sight. Only this frame renders when an
 * edge changes (the children are the same elements), and the scroller is measured at most once
 * a frame, so a 10,000-seat map scrolls as before.
 */
export function SideScroll({ hint, label, children }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const content = useRef<HTMLDivElement>(null);
  const [edges, setEdges] = useState<Edges>(NO_EDGES);
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    let frame = 0;
    const measure = () => {
      frame = 0;
      const next = edgesOf(el.scrollLeft, el.clientWidth, el.scrollWidth);
      setEdges((was) => (sameEdges(was, next) ? was : next));
    };
    const soon = () => {
      frame ||= requestAnimationFrame(measure);
    };
    measure();
    el.addEventListener("scroll", soon, { passive: true });
    // The scroller's width (a turned phone) and the content's (rows drawn, sections added).
    const resized = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(soon);
    resized?.observe(el);
    if (content.current) resized?.observe(content.current);
    return () => {
      el.removeEventListener("scroll", soon);
      resized?.disconnect();
      cancelAnimationFrame(frame);
    };
  }, []);
  const more = edges.start || edges.end;
  return (
    <>
      <p className="side-scroll-hint" hidden={!more} data-testid="side-scroll-hint">
        {hint}
      </p>
      <div className="side-scroll">
        <div className="side-scroll-edge side-scroll-edge-start" aria-hidden="true" hidden={!edges.start} data-testid="side-scroll-start" />
        {/* While it scrolls, a stop for the keyboard (its arrows scroll it): the seats in it may
            all be disabled, on the event page (WCAG 2.1.1). */}
        <div ref={scroller} className="side-scroll-area" role="region" aria-label={label} tabIndex={more ? 0 : undefined}>
          <div ref={content} className="side-scroll-content">
            {children}
          </div>
        </div>
        <div className="side-scroll-edge side-scroll-edge-end" aria-hidden="true" hidden={!edges.end} data-testid="side-scroll-end" />
      </div>
    </>
  );
}
