/**
 * Where each seat of a seated event is: pure, unit-tested. A section is `rows` × `seats_per_row`
 * seats whose ids follow its `seat_ids` rule (docs/openapi.yaml, `SectionSpec`):
 *
 * - `SECTION-SEAT` (the default, absent from answers): straight through the rows, `A-12` is row 2,
 *   seat 2 with 10 to a row;
 * - `SECTION-ROW-SEAT`: row and seat, `VIP-1-5` is row 1, seat 5.
 *
 * The seat map takes ids, rows and numbers from the availability's seats when it reports them, and
 * derives them from the section's rule otherwise (before the availability arrives, or from a server
 * that reports `seat_id` and `status` alone).
 */

import type { Availability, Section, SeatState, SeatStatus } from "../api/types";

export interface SeatPlace {
  row: number;
  number: number;
}

/** The id of the seat `number` of row `row` (both from 1) as `section` writes it. */
export function seatId(section: Section, row: number, number: number): string {
  return section.seat_ids === "SECTION-ROW-SEAT"
    ? `${section.name}-${row}-${number}`
    : `${section.name}-${(row - 1) * section.seats_per_row + number}`;
}

/** A number as the contract writes it in a seat id: from 1, at most 6 digits, no leading zero. */
function num(s: string | undefined): number | null {
  return s !== undefined && /^[1-9][0-9]{0,5}$/.test(s) ? Number(s) : null;
}

/**
 * Where `id` is in `section`, or null when it is none of its seats, as the server decides
 * (`Section::place_of`): `VIP-5` is no seat of a section numbered by row, nor `A-1-2` of one
 * numbered straight through.
 */
export function placeOf(section: Section, id: string): SeatPlace | null {
  const parts = id.split("-");
  if (parts[0] !== section.name) return null;
  const perRow = section.seats_per_row;
  if (section.seat_ids === "SECTION-ROW-SEAT") {
    if (parts.length !== 3) return null;
    const row = num(parts[1]);
    const number = num(parts[2]);
    if (row === null || number === null || row > section.rows || number > perRow) return null;
    return { row, number };
  }
  if (parts.length !== 2) return null;
  const n = num(parts[1]);
  if (n === null || n > section.rows * perRow) return null;
  return { row: Math.floor((n - 1) / perRow) + 1, number: ((n - 1) % perRow) + 1 };
}

/** What a seat of `section` costs: its own price, else the event's. */
export function sectionPrice(section: Section, eventPrice: number): number {
  return section.price ?? eventPrice;
}

/** Cheapest and dearest seat of an event (both `price` when no section has its own). */
export function priceRange(sections: Section[], eventPrice: number): { min: number; max: number } {
  if (sections.length === 0) return { min: eventPrice, max: eventPrice };
  const prices = sections.map((s) => sectionPrice(s, eventPrice));
  return { min: Math.min(...prices), max: Math.max(...prices) };
}

/**
 * One seat as the map draws it: the availability's own entry when it says where the seat is (no
 * copy of 10,000 seats per update), else one made from the section. `status` is null while
 * unknown (no availability yet, or a seat it does not list).
 */
export interface SeatCell {
  seat_id: string;
  section: string;
  row: number;
  number: number;
  status: SeatState | null;
  price: number;
}

export interface RowPlan {
  readonly section: string;
  readonly row: number;
  /** How many seats it has. */
  readonly length: number;
  /** Its seats, in order (made on first use for a row the availability did not fill). */
  readonly seats: SeatCell[];
}

/**
 * A row being planned: `cells` holds the availability's seats where they go; the holes (every
 * seat, before the availability arrives) are made from the section's rule when `seats` is first
 * read, so a map that draws a few rows never makes the ids of the others.
 */
class Row implements RowPlan {
  readonly section: string;
  readonly cells: (SeatCell | undefined)[];
  holes: number;

  constructor(
    private readonly of: Section,
    readonly row: number,
    private readonly price: number,
  ) {
    this.section = of.name;
    this.cells = new Array<SeatCell | undefined>(of.seats_per_row);
    this.holes = of.seats_per_row;
  }

  get length(): number {
    return this.cells.length;
  }

  get seats(): SeatCell[] {
    for (let i = 0; this.holes > 0 && i < this.cells.length; i++) {
      if (this.cells[i] !== undefined) continue;
      const n = i + 1;
      this.cells[i] = { seat_id: seatId(this.of, this.row, n), section: this.section, row: this.row, number: n, status: null, price: this.price };
      this.holes--;
    }
    return this.cells as SeatCell[];
  }
}

export interface SectionPlan {
  section: Section;
  price: number;
  rows: RowPlan[];
  /** Seats known to be free (0 while the availability is unknown). */
  available: number;
  total: number;
}

export interface SeatPlan {
  sections: SectionPlan[];
  /** Whether the availability has arrived. */
  known: boolean;
  /** Whether the sections' prices differ (the map then shows each section's). */
  tiered: boolean;
  /** The seat `id`, if the map has it. */
  find(id: string): SeatCell | undefined;
}

/**
 * Whether `a` and `b` show the same seats in the same states, from `from` to `to` (the whole row
 * by default). A seat map redraws only the rows and parts of rows for which this is false when a
 * new availability arrives (every 2 s, mostly unchanged).
 */
export function sameSeats(a: RowPlan, b: RowPlan, from = 0, to = Math.max(a.length, b.length)): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  const x = a.seats;
  const y = b.seats;
  for (let i = from; i < to; i++) {
    if (x[i].status !== y[i].status || x[i].seat_id !== y[i].seat_id || x[i].price !== y[i].price) return false;
  }
  return true;
}

function complete(s: SeatStatus): s is SeatStatus & SeatCell {
  return s.section !== undefined && s.row !== undefined && s.number !== undefined && s.price !== undefined;
}

/**
 * Every seat of `sections`, row by row, with its state in `availability` (null: unknown yet).
 * A seat the availability reports is placed by its `section`, `row` and `number` when it has them,
 * else by its id; one it does not report keeps the id its section's rule gives and an unknown
 * state. Reported seats outside their section's rows are left out (the map has no place for them).
 * Built on each availability, so it does as little per seat as it can: the availability's own
 * entries are the cells, and nothing is made, compared or indexed until asked.
 */
export function planSeats(sections: Section[], availability: Availability | null, eventPrice: number): SeatPlan {
  const byName = new Map<string, SectionPlan & { rows: Row[] }>();
  const plans = sections.map((section) => {
    const price = sectionPrice(section, eventPrice);
    const rows: Row[] = [];
    for (let r = 1; r <= section.rows; r++) rows.push(new Row(section, r, price));
    const plan = { section, price, rows, available: 0, total: section.rows * section.seats_per_row };
    byName.set(section.name, plan);
    return plan;
  });

  let plan: (SectionPlan & { rows: Row[] }) | undefined;
  for (const s of availability?.seats ?? []) {
    const name = s.section ?? s.seat_id.split("-")[0];
    if (plan?.section.name !== name) plan = byName.get(name);
    if (!plan) continue;
    let r = s.row;
    let n = s.number;
    if (r === undefined || n === undefined) {
      const where = placeOf(plan.section, s.seat_id);
      if (!where) continue;
      ({ row: r, number: n } = where);
    }
    const row = plan.rows[r - 1];
    if (!row || n < 1 || n > row.length) continue;
    const had = row.cells[n - 1];
    if (had === undefined) row.holes--;
    else if (had.status === "AVAILABLE") plan.available--;
    row.cells[n - 1] = complete(s)
      ? s
      : { seat_id: s.seat_id, section: plan.section.name, row: r, number: n, status: s.status, price: s.price ?? plan.price };
    if (s.status === "AVAILABLE") plan.available++;
  }

  let index: Map<string, SeatCell> | null = null;
  const find = (id: string): SeatCell | undefined => {
    // Where the id says, as the server reads it; a map of every seat only for ids it cannot place.
    const p = byName.get(id.split("-")[0]);
    const where = p && placeOf(p.section, id);
    const cell = where ? p.rows[where.row - 1]?.seats[where.number - 1] : undefined;
    if (cell?.seat_id === id) return cell;
    index ??= new Map(plans.flatMap((q) => q.rows.flatMap((r) => r.seats.map((c) => [c.seat_id, c] as const))));
    return index.get(id);
  };
  return { sections: plans, known: availability !== null, tiered: new Set(plans.map((p) => p.price)).size > 1, find };
}
