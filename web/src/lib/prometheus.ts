/** A small parser of the Prometheus text exposition format (version 0.0.4), enough for /metrics. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(s: string): number {
  switch (s) {
    case "+Inf":
    case "Inf":
      return Infinity;
    case "-Inf":
      return -Infinity;
    case "NaN":
      return NaN;
    default:
      return Number(s);
  }
}

/** Parses `{a="x",b="y\"z"}` starting at `i` (the `{`); returns the labels and the index after `}`. */
function parseLabels(line: string, i: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++; // {
  for (;;) {
    while (line[i] === " " || line[i] === ",") i++;
    if (line[i] === "}") return [labels, i + 1];
    const eq = line.indexOf("=", i);
    if (eq < 0) throw new Error("label without value");
    const name = line.slice(i, eq).trim();
    i = eq + 1;
    if (line[i] !== '"') throw new Error("label value not quoted");
    i++;
    let value = "";
    while (i < line.length && line[i] !== '"') {
      if (line[i] === "\\") {
        const next = line[i + 1];
        value += next === "n" ? "\n" : next;
        i += 2;
      } else {
        value += line[i++];
      }
    }
    if (i >= line.length) throw new Error("unterminated label value");
    labels[name] = value;
    i++; // closing quote
  }
}

/** Every sample of the exposition; comment lines and lines that do not parse are skipped. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    try {
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
      if (!m) continue;
      const name = m[0];
      let i = name.length;
      let labels: Record<string, string> = {};
      if (line[i] === "{") [labels, i] = parseLabels(line, i);
      const rest = line.slice(i).trim().split(/\s+/);
      const value = parseValue(rest[0] ?? "");
      if (rest[0] === undefined || rest[0] === "" || (Number.isNaN(value) && rest[0] !== "NaN")) continue;
      out.push({ name, labels, value });
    } catch {
      continue;
    }
  }
  return out;
}
