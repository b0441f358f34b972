import { describe, expect, it } from "vitest";
import { edgesOf } from "./scrollEdges";

describe("edgesOf", () => {
  it("nothing to scroll when the content fits", () => {
    expect(edgesOf(0, 320, 320)).toEqual({ start: false, end: false });
    expect(edgesOf(0, 320, 300)).toEqual({ start: false, end: false });
  });
  it("more at the end until scrolled there, more at the start once scrolled", () => {
    expect(edgesOf(0, 320, 1000)).toEqual({ start: false, end: true });
    expect(edgesOf(200, 320, 1000)).toEqual({ start: true, end: true });
    expect(edgesOf(680, 320, 1000)).toEqual({ start: true, end: false });
  });
  it("a fraction of a pixel short of an end is at it (rounded scroll positions)", () => {
    expect(edgesOf(679.5, 320, 1000)).toEqual({ start: true, end: false });
    expect(edgesOf(0.5, 320, 1000)).toEqual({ start: false, end: true });
  });
});
