import { describe, expect, it } from "vitest";
import type { Availability, Section } from "../api/types";
import { formatPrice } from "./format";
import { placeOf, planSeats, priceRange, sameSeats, seatId } from "./seats";

const A: Section = { name: "A", rows: 2, seats_per_row: 10 };
const VIP: Section = { name: "VIP", rows: 2, seats_per_row: 5, seat_ids: "SECTION-ROW-SEAT", price: 15_000 };

function availability(seats: Availability["seats"]): Availability {
  return { event_id: "evt_x", total: seats.length, available: 0, held: 0, sold: 0, seats };
}

describe("seat ids", () => {
  it("number straight through the rows by default (A-12: row 2, seat 2 of 10)", () => {
    expect(seatId(A, 1, 1)).toBe("A-1");
    expect(seatId(A, 2, 2)).toBe("A-12");
    expect(seatId({ ...A, seat_ids: "SECTION-SEAT" }, 2, 10)).toBe("A-20");
    expect(placeOf(A, "A-12")).toEqual({ row: 2, number: 2 });
    expect(placeOf(A, "A-20")).toEqual({ row: 2, number: 10 });
  });
  it("write row and seat in sections numbered by row (VIP-1-5)", () => {
    expect(seatId(VIP, 1, 5)).toBe("VIP-1-5");
    expect(seatId(VIP, 2, 1)).toBe("VIP-2-1");
    expect(placeOf(VIP, "VIP-1-5")).toEqual({ row: 1, number: 5 });
    expect(placeOf(VIP, "VIP-2-5")).toEqual({ row: 2, number: 5 });
  });
  it("are read as the server reads them: no seat outside the section, no other numbering", () => {
    for (const id of ["A-0", "A-21", "A-07", "A-1-2", "B-1", "A-", "A-x"]) expect(placeOf(A, id), id).toBeNull();
    for (const id of ["VIP-5", "VIP-3-1", "VIP-1-6", "VIP-0-1", "VIP-1-05", "VIP-1-2-3", "A-1-1"]) {
      expect(placeOf(VIP, id), id).toBeNull();
    }
  });
});

describe("the seat plan", () => {
  it("draws every seat row by row with its section's ids before the availability arrives", () => {
    const plan = planSeats([A, VIP], null, 4500);
    expect(plan.known).toBe(false);
    expect(plan.sections.map((s) => s.rows.length)).toEqual([2, 2]);
    expect(plan.sections[0].rows[1].seats.map((s) => s.seat_id)).toEqual(
      ["A-11", "A-12", "A-13", "A-14", "A-15", "A-16", "A-17", "A-18", "A-19", "A-20"],
    );
    expect(plan.sections[1].rows[0].seats.map((s) => s.seat_id)).toEqual(["VIP-1-1", "VIP-1-2", "VIP-1-3", "VIP-1-4", "VIP-1-5"]);
    expect(plan.find("VIP-1-5")).toMatchObject({ row: 1, number: 5, status: null, price: 15_000 });
    expect(plan.find("A-12")).toMatchObject({ row: 2, number: 2, status: null, price: 4500 });
    expect(plan.find("VIP-5")).toBeUndefined();
  });

  it("takes ids, rows, numbers and prices from the availability when it reports them", () => {
    const plan = planSeats([VIP], availability([
      { seat_id: "VIP-1-5", status: "SOLD", section: "VIP", row: 1, number: 5, price: 16_000 },
      { seat_id: "VIP-2-1", status: "HELD", section: "VIP", row: 2, number: 1, price: 15_000 },
    ]), 4500);
    expect(plan.known).toBe(true);
    expect(plan.find("VIP-1-5")).toMatchObject({ status: "SOLD", price: 16_000 });
    expect(plan.sections[0].rows[0].seats.map((s) => s.status)).toEqual([null, null, null, null, "SOLD"]);
    expect(plan.sections[0].rows[1].seats.map((s) => s.status)).toEqual(["HELD", null, null, null, null]);
    // Seats it does not list cannot be had (unknown), and none is counted free.
    expect(plan.find("VIP-1-1")?.status).toBeNull();
    expect(plan.sections[0].available).toBe(0);
  });

  it("places seats by their id when the availability gives seat_id and status alone", () => {
    const plan = planSeats([A, VIP], availability([
      { seat_id: "A-12", status: "AVAILABLE" },
      { seat_id: "VIP-2-3", status: "SOLD" },
      { seat_id: "VIP-9", status: "AVAILABLE" }, // no seat of a section numbered by row
      { seat_id: "Z-1", status: "AVAILABLE" }, // no such section
    ]), 4500);
    expect(plan.find("A-12")).toMatchObject({ section: "A", row: 2, number: 2, status: "AVAILABLE", price: 4500 });
    expect(plan.find("VIP-2-3")).toMatchObject({ row: 2, number: 3, status: "SOLD", price: 15_000 });
    expect(plan.find("VIP-9")).toBeUndefined();
    expect(plan.sections.map((s) => s.available)).toEqual([1, 0]);
  });

  it("leaves out seats the availability places outside their section's rows", () => {
    const out = planSeats([VIP], availability([{ seat_id: "VIP-3-1", status: "AVAILABLE", section: "VIP", row: 3, number: 1, price: 1 }]), 1);
    expect(out.find("VIP-3-1")).toBeUndefined();
    expect(out.sections[0].available).toBe(0);
  });

  it("tells which rows, and which parts of rows, changed from one availability to the next", () => {
    const seats = (status: "AVAILABLE" | "HELD") =>
      Array.from({ length: 10 }, (_, i) => ({ seat_id: `VIP-${Math.floor(i / 5) + 1}-${(i % 5) + 1}`, status: i === 7 ? status : "AVAILABLE" as const }));
    const before = planSeats([VIP], availability(seats("AVAILABLE")), 1);
    const after = planSeats([VIP], availability(seats("HELD")), 1);
    expect(sameSeats(before.sections[0].rows[0], after.sections[0].rows[0])).toBe(true);
    expect(sameSeats(before.sections[0].rows[1], after.sections[0].rows[1])).toBe(false);
    expect(sameSeats(before.sections[0].rows[1], after.sections[0].rows[1], 0, 2)).toBe(true);
    expect(sameSeats(before.sections[0].rows[1], after.sections[0].rows[1], 2, 3)).toBe(false);
    expect([before.sections[0].available, after.sections[0].available]).toEqual([10, 9]);
    // Unknown seats (before the availability) differ from known ones.
    expect(sameSeats(planSeats([VIP], null, 1).sections[0].rows[0], before.sections[0].rows[0])).toBe(false);
  });

  it("counts a seat listed twice once, with its last state", () => {
    const plan = planSeats([VIP], availability([
      { seat_id: "VIP-1-1", status: "AVAILABLE" },
      { seat_id: "VIP-1-1", status: "SOLD" },
      { seat_id: "VIP-1-2", status: "AVAILABLE" },
    ]), 1);
    expect(plan.sections[0].available).toBe(1);
    expect(plan.find("VIP-1-1")?.status).toBe("SOLD");
  });

  it("knows when the sections' prices differ", () => {
    expect(planSeats([A, { ...A, name: "B" }], null, 4500).tiered).toBe(false);
    expect(planSeats([A, VIP], null, 4500).tiered).toBe(true);
    expect(planSeats([A, { ...A, name: "B", price: null }], null, 4500).tiered).toBe(false);
  });

  it("draws a 10,000-seat arena from its availability", () => {
    const arena: Section[] = [
      { name: "VIP", rows: 10, seats_per_row: 50, seat_ids: "SECTION-ROW-SEAT", price: 220_000 },
      { name: "R", rows: 30, seats_per_row: 100, seat_ids: "SECTION-ROW-SEAT", price: 165_000 },
      { name: "S", rows: 65, seats_per_row: 100, seat_ids: "SECTION-ROW-SEAT" },
    ];
    const seats = arena.flatMap((s) =>
      Array.from({ length: s.rows * s.seats_per_row }, (_, i) => {
        const row = Math.floor(i / s.seats_per_row) + 1;
        const number = (i % s.seats_per_row) + 1;
        return { seat_id: `${s.name}-${row}-${number}`, status: "AVAILABLE" as const, section: s.name, row, number, price: s.price ?? 99_000 };
      }),
    );
    const plan = planSeats(arena, availability(seats), 99_000);
    expect(plan.sections.map((s) => [s.rows.length, s.available])).toEqual([[10, 500], [30, 3000], [65, 6500]]);
    expect(plan.find("S-65-100")).toMatchObject({ row: 65, number: 100, price: 99_000 });
    expect(plan.find("VIP-1-5")).toBe(seats[4]);
  });
});

describe("prices", () => {
  it("ranges over the sections' own prices and the event's", () => {
    expect(priceRange([], 4500)).toEqual({ min: 4500, max: 4500 });
    expect(priceRange([A, VIP], 4500)).toEqual({ min: 4500, max: 15_000 });
    expect(formatPrice({ price: 4500, currency: "USD", sections: [A] })).toBe("$45.00");
    expect(formatPrice({ price: 99_000, currency: "KRW", sections: [{ ...VIP, price: 220_000 }, A] })).toBe("₩99,000–₩220,000");
  });
});
