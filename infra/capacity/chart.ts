/**
 * `--chart`: memory, CPU and response time over time with the framework's thresholds, as a vega-lite spec rendered
 * by vega to SVG (renderer "none", no browser) and by resvg to PNG.
 *
 * The spec is a pure function of the samples; rendering loads vega and vega-lite, which are ES modules with
 * top-level await (vega-canvas): they cannot be require()d from this CommonJS project, so they are loaded with a
 * native dynamic import that the TypeScript/tsx CommonJS transform leaves alone.
 */
import type { TimedSample } from "./metrics";

export interface ChartSpec {
  $schema: string;
  [key: string]: unknown;
}

const THRESHOLDS_PCT = [
  { label: "memory plan (80%, 7 d)", value: 80 },
  { label: "CPU now (85%, 6 h)", value: 85 },
  { label: "memory now (90%, 24 h)", value: 90 },
];
const THRESHOLD_MS = 2000;

/** The vega-lite spec: two panels sharing the time axis (utilization %, response ms), threshold rules on each. */
export function buildChartSpec(samples: readonly TimedSample[], title: string): ChartSpec {
  const pct = samples.flatMap((s) => [
    { at: s.at, series: "memory %", value: s.memoryPct },
    { at: s.at, series: "CPU %", value: s.cpuPct },
  ]);
  const ms = samples
    .filter((s) => s.responseMs !== undefined)
    .map((s) => ({ at: s.at, series: "response ms", value: s.responseMs }));
  const x = { field: "at", type: "temporal", title: null, axis: { format: "%b %d %H:%M", labelAngle: 0 } };
  const line = (values: unknown[], yTitle: string, domain?: number[]) => ({
    data: { values },
    mark: { type: "line", strokeWidth: 1.2, interpolate: "linear" },
    encoding: {
      x,
      y: { field: "value", type: "quantitative", title: yTitle, ...(domain ? { scale: { domain } } : {}) },
      color: { field: "series", type: "nominal", title: null },
    },
  });
  const rules = (values: { label: string; value: number }[]) => [
    {
      data: { values },
      mark: { type: "rule", strokeDash: [4, 3], color: "#c0392b" },
      encoding: { y: { field: "value", type: "quantitative" } },
    },
    {
      data: { values },
      mark: { type: "text", align: "left", dx: 4, dy: -5, fontSize: 9, color: "#c0392b" },
      encoding: { y: { field: "value", type: "quantitative" }, x: { value: 0 }, text: { field: "label" } },
    },
  ];
  const panels = [{ width: 720, height: 220, layer: [line(pct, "utilization %", [0, 100]), ...rules(THRESHOLDS_PCT)] }];
  if (ms.length > 0) {
    panels.push({
      width: 720,
      height: 160,
      layer: [line(ms, "response ms"), ...rules([{ label: "response now (2000 ms, 1 h)", value: THRESHOLD_MS }])],
    });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    background: "white",
    vconcat: panels,
    resolve: { scale: { color: "independent" } },
  };
}

const nativeImport = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<unknown>;

/**
 * Node's own import() (tsx/CommonJS would turn a plain import() into require(), which fails on top-level await).
 * Under vitest, modules run in a VM context without an import callback: there the bundler's import() works.
 */
async function importEsm(specifier: string): Promise<unknown> {
  try {
    return await nativeImport(specifier);
  } catch (err) {
    if (!/dynamic import callback/i.test(String(err))) throw err;
    return import(specifier);
  }
}

interface VegaLite {
  compile(spec: unknown): { spec: unknown };
}
interface Vega {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, opts: { renderer: "none" }) => { toSVG(): Promise<string>; finalize(): void };
}

export async function renderSvg(spec: ChartSpec): Promise<string> {
  const vl = (await importEsm("vega-lite")) as VegaLite;
  const vega = (await importEsm("vega")) as Vega;
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function renderPng(svg: string): Promise<Buffer> {
  const { Resvg } = await import("@resvg/resvg-js");
  return new Resvg(svg, { background: "white", fitTo: { mode: "zoom", value: 2 } }).render().asPng();
}

/** Renders to the format the file name asks for: .svg or .png. */
export async function renderChart(spec: ChartSpec, fileName: string): Promise<string | Buffer> {
  const svg = await renderSvg(spec);
  if (/\.svg$/i.test(fileName)) return svg;
  if (/\.png$/i.test(fileName)) return renderPng(svg);
  throw new Error(`--chart: "${fileName}" must end in .svg or .png`);
}
