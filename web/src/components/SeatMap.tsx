import type { Availability, Section, SeatState } from "../api/types";

interface Props {
  sections: Section[];
  availability: Availability | null;
  selected: string[];
  onToggle?: (seatId: string) => void;
  /** No selection: the map only shows what is free (event page). */
  readOnly?: boolean;
  /** Most seats one order may take. */
  max?: number;
}

const STATE_WORD: Record<SeatState, string> = { AVAILABLE: "available", HELD: "held", SOLD: "sold" };

/**
 * Seats as buttons, one grid per section: each says its place and state (aria-label), a chosen
 * seat is pressed (aria-pressed), taken seats are disabled. Tab and Enter/Space work as for any
 * button.
 */
export function SeatMap({ sections, availability, selected, onToggle, readOnly, max }: Props) {
  const status = new Map(availability?.seats.map((s) => [s.seat_id, s.status]));
  const full = max !== undefined && selected.length >= max;
  return (
    <div className="seatmap">
      <ul className="legend" aria-label="Legend">
        <li><span className="swatch seat-available" aria-hidden="true" /> Available</li>
        {!readOnly && <li><span className="swatch seat-selected" aria-hidden="true" /> Your choice</li>}
        <li><span className="swatch seat-held" aria-hidden="true" /> Held</li>
        <li><span className="swatch seat-sold" aria-hidden="true" /> Sold</li>
      </ul>
      <p className="stage" aria-hidden="true">Stage</p>
      {sections.map((section) => (
        <fieldset className="section" key={section.name}>
          <legend>Section {section.name}</legend>
          {Array.from({ length: section.rows }, (_, r) => (
            <div className="seat-row" role="group" aria-label={`Section ${section.name}, row ${r + 1}`} key={r}>
              <span className="row-label" aria-hidden="true">{r + 1}</span>
              {Array.from({ length: section.seats_per_row }, (_, c) => {
                const n = r * section.seats_per_row + c + 1;
                const id = `${section.name}-${n}`;
                const st: SeatState = status.get(id) ?? "AVAILABLE";
                const isSelected = selected.includes(id);
                const known = availability !== null;
                const free = known && st === "AVAILABLE";
                const cls = isSelected ? "seat seat-selected" : `seat seat-${st.toLowerCase()}`;
                // The visible number is the seat in its row; the name starts with it (WCAG 2.5.3, label in name).
                const label = `Seat ${c + 1}, row ${r + 1} (${id}), ${known ? (isSelected ? "selected" : STATE_WORD[st]) : "loading"}`;
                return (
                  <button
                    key={id}
                    type="button"
                    className={cls}
                    data-seat={id}
                    data-status={st}
                    aria-label={label}
                    aria-pressed={readOnly ? undefined : isSelected}
                    disabled={readOnly || (!isSelected && (!free || full))}
                    onClick={() => onToggle?.(id)}
                  >
                    <span aria-hidden="true">{c + 1}</span>
                  </button>
                );
              })}
            </div>
          ))}
        </fieldset>
      ))}
    </div>
  );
}
