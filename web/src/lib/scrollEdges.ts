/** Which ends of a sideways scroller have more to show, for its scroll hint (`SideScroll`). */

export interface Edges {
  /** Content is scrolled out of sight at the start (left). */
  start: boolean;
  /** Content is out of sight at the end (right): the last seats of a row, say. */
  end: boolean;
}

export const NO_EDGES: Edges = { start: false, end: false };

/**
 * Less than this many pixels out of sight counts as none: browsers round `scrollLeft` on zoomed
 * or high-density screens, so a scroller at its end can stop a fraction of a pixel short of it.
 */
const SLACK_PX = 1;

/** The edges of a scroller from its `scrollLeft`, `clientWidth` and `scrollWidth`. */
export function edgesOf(scrollLeft: number, clientWidth: number, scrollWidth: number): Edges {
  return {
    start: scrollLeft > SLACK_PX,
    end: scrollWidth - clientWidth - scrollLeft > SLACK_PX,
  };
}

export function sameEdges(a: Edges, b: Edges): boolean {
  return a.start === b.start && a.end === b.end;
}
