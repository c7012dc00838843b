// Sparklines as plain SVG: the last N values of a series, scaled to the box.
const POINTS = 60;
const W = 120;
const H = 32;

export class Series {
  constructor() {
    this.values = [];
  }

  push(value) {
    this.values.push(Number.isFinite(value) ? value : null);
    if (this.values.length > POINTS) this.values.shift();
  }
}

/** Draw one or more series (the first as an area) into an <svg>. */
export function draw(svg, ...series) {
  const all = series.flatMap((s) => s.values).filter((v) => v !== null);
  const top = Math.max(1e-9, ...all) * 1.1;
  const step = W / (POINTS - 1);
  const paths = series.map((s, index) => {
    const offset = POINTS - s.values.length;
    let d = "";
    s.values.forEach((v, i) => {
      if (v === null) return;
      const x = (offset + i) * step;
      const y = H - (v / top) * (H - 2) - 1;
      d += `${d ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
    });
    if (!d) return "";
    const line = `<path class="line line-${index}" d="${d}"/>`;
    if (index > 0) return line;
    const firstX = (offset + s.values.findIndex((v) => v !== null)) * step;
    return `<path class="area" d="${d}L${W},${H}L${firstX.toFixed(1)},${H}Z"/>${line}`;
  });
  svg.innerHTML = paths.join("");
}
