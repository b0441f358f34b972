import { memo, useCallback, useDeferredValue, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { Availability, EventInfo, SeatState } from "../api/types";
import { formatMoney } from "../lib/format";
import { markOnce } from "../lib/perf";
import { planSeats, sameSeats, type RowPlan, type SeatPlan } from "../lib/seats";
import { SideScroll } from "./SideScroll";

interface Props {
  plan: SeatPlan;
  /** The event's currency, for the sections' prices. */
  currency: string;
  selected: string[];
  onToggle?: (seatId: string) => void;
  /** No selection: the map only shows what is free (event page). */
  readOnly?: boolean;
  /** Most seats one order may take. */
  max?: number;
}

/** The seats of a seated event with their states, rebuilt once per availability (null otherwise). */
export function useSeatPlan(event: EventInfo | null, availability: Availability | null): SeatPlan | null {
  return useMemo(
    () => (event?.kind === "seated" ? planSeats(event.sections, availability, event.price) : null),
    [event, availability],
  );
}

const STATE_WORD: Record<SeatState, string> = { AVAILABLE: "available", HELD: "held", SOLD: "sold" };

/** Seats per block: a row is drawn block by block (the CSS knows the width of 1 to 10 seats). */
const BLOCK = 10;
/** Maps of more seats than this draw only what is on screen; smaller ones are drawn whole. */
const WINDOWED_FROM = 1000;
/**
 * Of a windowed map, what is drawn without waiting to be seen: the front rows' first blocks, on
 * screen when the page opens. These rows are also drawn first when an availability arrives; the
 * others a render later, one that yields to input. The rest of the map is drawn as it comes within
 * [`AHEAD`] of the viewport.
 */
const EAGER_ROWS = 4;
const EAGER_BLOCKS = 3;
const AHEAD = "64px 0px";

type Observe = (el: Element, show: () => void) => () => void;

/**
 * One IntersectionObserver for the rows and blocks of a map: `observe(el, show)` calls `show`
 * once, when `el` comes within [`AHEAD`] of the viewport (and, for a block, is not scrolled out of
 * the map sideways). Without IntersectionObserver everything is shown.
 */
function useNearViewport(): Observe {
  const io = useRef<IntersectionObserver | null>(null);
  const waiting = useRef(new Map<Element, () => void>());
  useEffect(
    () => () => {
      io.current?.disconnect();
      io.current = null;
    },
    [],
  );
  return useCallback((el, show) => {
    if (typeof IntersectionObserver === "undefined") {
      show();
      return () => {};
    }
    io.current ??= new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          const f = waiting.current.get(e.target);
          waiting.current.delete(e.target);
          io.current?.unobserve(e.target);
          f?.();
        }
      },
      { rootMargin: AHEAD },
    );
    waiting.current.set(el, show);
    io.current.observe(el);
    return () => {
      waiting.current.delete(el);
      io.current?.unobserve(el);
    };
  }, []);
}

interface Shared {
  full: boolean;
  known: boolean;
  readOnly: boolean;
  onToggle?: (seatId: string) => void;
  observe: Observe;
}

interface BlockProps extends Shared {
  row: RowPlan;
  from: number;
  to: number;
  /** The block's chosen seats, space-separated ("" for none): a choice redraws its block alone. */
  chosen: string;
  /** Drawn without waiting to be seen (small maps, the front rows, rows around the focus). */
  eager: boolean;
}

/**
 * Seats `from`..`to` of a row, as buttons once their states are known and the block has come near
 * the viewport (or is eager); until then an empty box of the same size, so nothing moves. Once
 * drawn it stays drawn (a focused seat never disappears), and is drawn again only when what it
 * shows changed.
 */
const SeatBlock = memo(
  function SeatBlock({ row, from, to, chosen, eager, full, known, readOnly, onToggle, observe }: BlockProps) {
    const ref = useRef<HTMLSpanElement>(null);
    const [shown, setShown] = useState(eager);
    // Once eager (the focus came by), drawn for good.
    if (eager && !shown) setShown(true);
    useLayoutEffect(() => {
      if (shown || !ref.current) return;
      return observe(ref.current, () => setShown(true));
    }, [shown, observe]);
    if (!shown || !known) return <span ref={ref} className="seat-block seat-block-pending" data-size={to - from} />;
    const picked = chosen === "" ? null : new Set(chosen.split(" "));
    return (
      <span ref={ref} className="seat-block">
        {row.seats.slice(from, to).map((seat) => {
          const st: SeatState | null = seat.status;
          const isSelected = picked?.has(seat.seat_id) ?? false;
          const free = st === "AVAILABLE";
          // A seat the availability does not list cannot be had: drawn as taken.
          const cls = isSelected ? "seat seat-selected" : `seat seat-${st ? st.toLowerCase() : "sold"}`;
          const state = isSelected ? "selected" : st ? STATE_WORD[st] : "unavailable";
          // The visible number is the seat in its row; the name starts with it (WCAG 2.5.3, label in name).
          return (
            <button
              key={seat.seat_id}
              type="button"
              className={cls}
              data-seat={seat.seat_id}
              data-status={st ?? "UNKNOWN"}
              aria-label={`Seat ${seat.number}, row ${seat.row} (${seat.seat_id}), ${state}`}
              aria-pressed={readOnly ? undefined : isSelected}
              disabled={readOnly || (!isSelected && (!free || full))}
              onClick={() => onToggle?.(seat.seat_id)}
            >
              {seat.number}
            </button>
          );
        })}
      </span>
    );
  },
  (a, b) =>
    a.known === b.known &&
    a.chosen === b.chosen &&
    a.eager === b.eager &&
    a.full === b.full &&
    a.readOnly === b.readOnly &&
    a.onToggle === b.onToggle &&
    a.observe === b.observe &&
    a.from === b.from &&
    a.to === b.to &&
    sameSeats(a.row, b.row, a.from, a.to),
);

interface RowProps extends Shared {
  row: RowPlan;
  index: number;
  /** The row's chosen seats, space-separated ("" for none). */
  chosen: string;
  /** Blocks drawn without waiting to be seen: all, some (the front rows of a big map) or none. */
  eagerBlocks: number;
  onFocusRow: (index: number) => void;
}

/**
 * One row of seats, block by block: a group named by section and row, whose seats Tab and
 * Shift+Tab go through in order. Its blocks are there once the row has come near the viewport
 * (before, the row is its number alone); the row holding the focus and its neighbours are drawn
 * whole, so the keyboard never skips a seat that is scrolled out of the map sideways.
 */
const SeatRow = memo(
  function SeatRow({ row, index, chosen, eagerBlocks, onFocusRow, ...shared }: RowProps) {
    const ref = useRef<HTMLDivElement>(null);
    const [near, setNear] = useState(eagerBlocks > 0);
    if (eagerBlocks > 0 && !near) setNear(true);
    const { observe } = shared;
    useLayoutEffect(() => {
      if (near || !ref.current) return;
      return observe(ref.current, () => setNear(true));
    }, [near, observe]);
    const picked = chosen === "" ? [] : chosen.split(" ");
    const blocks = [];
    for (let from = 0, b = 0; near && from < row.length; from += BLOCK, b++) {
      const to = Math.min(from + BLOCK, row.length);
      const inBlock = picked.filter((id) => {
        const i = row.seats.findIndex((s) => s.seat_id === id);
        return i >= from && i < to;
      });
      blocks.push(
        <SeatBlock key={from} row={row} from={from} to={to} chosen={inBlock.join(" ")} eager={b < eagerBlocks} {...shared} />,
      );
    }
    return (
      <div ref={ref} className="seat-row" role="group" aria-label={`Section ${row.section}, row ${row.row}`} onFocus={() => onFocusRow(index)}>
        <span className="row-label" aria-hidden="true">{row.row}</span>
        {blocks}
      </div>
    );
  },
  (a, b) =>
    a.known === b.known &&
    a.chosen === b.chosen &&
    a.eagerBlocks === b.eagerBlocks &&
    a.full === b.full &&
    a.readOnly === b.readOnly &&
    a.onToggle === b.onToggle &&
    a.observe === b.observe &&
    a.onFocusRow === b.onFocusRow &&
    a.index === b.index &&
    sameSeats(a.row, b.row),
);

/**
 * Seats as buttons, section by section and row by row: each says its place and state
 * (aria-label), a chosen seat is pressed (aria-pressed), taken seats are disabled. Tab and
 * Enter/Space work as for any button. Sized for arenas: a big map draws only the blocks of seats
 * on screen (the others as they are scrolled to), the front rows first and the rest in the
 * background (interrupted by any input); a new availability or a choice redraws only the blocks
 * that changed. So a 10,000-seat map opens about as fast as a small one. Rows wider than the
 * screen scroll sideways, with shadowed edges where there is more ([`SideScroll`]).
 */
export const SeatMap = memo(function SeatMap({ plan, currency, selected, onToggle, readOnly = false, max }: Props) {
  const observe = useNearViewport();
  // Rows behind the front ones follow the availability a render later, one that yields to input.
  const late = useDeferredValue(plan);
  // The row with the focus: it and its neighbours are drawn whole (Tab goes through every seat).
  const [focusRow, setFocusRow] = useState(-1);
  const windowed = plan.sections.reduce((n, s) => n + s.total, 0) > WINDOWED_FROM;
  const full = max !== undefined && selected.length >= max;
  // Chosen seats by row ("section row" → "id id").
  const chosen = new Map<string, string>();
  for (const id of selected) {
    const seat = plan.find(id);
    if (!seat) continue;
    const key = `${seat.section} ${seat.row}`;
    const had = chosen.get(key);
    chosen.set(key, had ? `${had} ${id}` : id);
  }
  useLayoutEffect(() => {
    if (plan.known) markOnce("tacos:seatmap");
  }, [plan.known]);
  let index = 0;
  return (
    <div className="seatmap">
      <ul className="legend" aria-label="Legend">
        <li><span className="swatch seat-available" aria-hidden="true" /> Available</li>
        {!readOnly && <li><span className="swatch seat-selected" aria-hidden="true" /> Your choice</li>}
        <li><span className="swatch seat-held" aria-hidden="true" /> Held</li>
        <li><span className="swatch seat-sold" aria-hidden="true" /> Sold</li>
      </ul>
      {/* Always there, so that the rows do not move when the states arrive. */}
      <p className="seatmap-status" aria-live="polite">{plan.known ? "" : "Checking which seats are free…"}</p>
      {/* Rows wider than the screen (a phone's) scroll sideways, and say so. */}
      <SideScroll label="Seat map" hint="Rows go on past the edge: scroll sideways to see every seat.">
        <p className="stage" aria-hidden="true">Stage</p>
        {plan.sections.map((s, si) => (
          <fieldset className="section" key={s.section.name} data-section={s.section.name}>
            <legend>
              Section {s.section.name}
              {plan.tiered && <span className="section-price"> · {formatMoney(s.price, currency)}</span>}
              {plan.known && <span className="section-free"> · {s.available} of {s.total} free</span>}
            </legend>
            {s.rows.map((row, r) => {
              const i = index++;
              const focused = Math.abs(i - focusRow) <= 1;
              const eagerBlocks = !windowed || focused ? Infinity : i < EAGER_ROWS ? EAGER_BLOCKS : 0;
              const urgent = !windowed || focused || i < EAGER_ROWS;
              const now = urgent ? plan : late;
              return (
                <SeatRow
                  key={row.row}
                  row={urgent ? row : (late.sections[si]?.rows[r] ?? row)}
                  index={i}
                  chosen={chosen.get(`${row.section} ${row.row}`) ?? ""}
                  eagerBlocks={eagerBlocks}
                  full={full}
                  known={now.known}
                  readOnly={readOnly}
                  onToggle={onToggle}
                  observe={observe}
                  onFocusRow={setFocusRow}
                />
              );
            })}
          </fieldset>
        ))}
      </SideScroll>
    </div>
  );
});
