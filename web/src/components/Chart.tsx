import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface SeriesSpec {
  label: string;
  color: string;
  /** Decimals shown in the legend. */
  digits?: number;
}

interface Props {
  title: string;
  series: SeriesSpec[];
  /** [x (unix seconds), ...one array per series]; null = no value. */
  data: [number[], ...(number | null)[][]];
  unit?: string;
}

/** A small live time-series chart (uPlot, canvas); the figures are also given as text. */
export function Chart({ title, series, data, unit }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(260, el.clientWidth),
      height: 200,
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          value: (_u: uPlot, v: number | null) => (v == null ? "–" : `${v.toFixed(s.digits ?? 1)}${unit ? " " + unit : ""}`),
        })),
      ],
      axes: [{ stroke: "#333" }, { stroke: "#333", size: 56 }],
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1) * 1.1] } },
      legend: { live: false },
    };
    plot.current = new uPlot(opts, data as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(260, el.clientWidth), height: 200 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The series are fixed per chart; data updates go through setData below.
  }, []);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  return (
    <figure className="chart card" aria-label={title}>
      <figcaption>{title}</figcaption>
      <div ref={box} className="chart-canvas" role="img" aria-label={`${title} chart`} />
    </figure>
  );
}
